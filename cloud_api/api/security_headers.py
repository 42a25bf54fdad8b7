"""The security headers of every answer: what a browser may run, embed and send on our behalf.

Every response gets ``X-Content-Type-Options: nosniff`` (an upload is never run as a script or a page),
``Referrer-Policy: same-origin`` (a page's address, which may name a child, never leaves the site),
``X-Frame-Options: DENY`` with CSP ``frame-ancestors 'none'`` (no page is framed by another site:
no click-jacking of a consent or a card block) and ``Cross-Origin-Opener-Policy: same-origin``; over
TLS, HSTS for a year. Pages get a Content-Security-Policy that allows only the site's own scripts,
styles and images, and an inline script only with the request's nonce (``request.state.csp_nonce``,
for a template that needs one). The API documentation (Swagger UI, ReDoc) starts itself with an
inline script and injects its styles, so its policy adds the nonce to those scripts and allows inline
styles there only.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DOCS_PATHS", "SecurityHeaders", "content_security_policy"]

DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
_HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(nonce: str, *, docs: bool = False) -> str:
    """The policy of a page: the site's own parts only, and inline script only with ``nonce``."""
    style = "'self' 'unsafe-inline'" if docs else "'self'"
    worker = "'self' blob:" if docs else "'self'"  # ReDoc searches in a worker it makes from a blob
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src {style}",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"worker-src {worker}",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware that adds the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        docs = scope["path"] in DOCS_PATHS
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Content-Security-Policy", content_security_policy(nonce, docs=docs))
                if tls:
                    headers.setdefault("Strict-Transport-Security", _HSTS)
                if docs:
                    # The body gets longer by the nonces below; the server frames it anew.
                    del headers["content-length"]
            elif message["type"] == "http.response.body" and docs:
                body: bytes = message.get("body", b"")
                message = {**message, "body": body.replace(b"<script", f'<script nonce="{nonce}"'.encode())}
            await send(message)

        await self.app(scope, receive, send_with_headers)
