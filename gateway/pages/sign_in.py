"""Signing in to the gateway's pages on the school's network, and the gate in front of them.

    GET  /sign-in?lang=&next=   two forms: a staff member's canteen PIN, or a pairing code
    POST /sign-in               staff_id, pin → the staff cookie, back to ``next``
    POST /pair                  code, name → the device cookie, back to ``next``
    POST /sign-out              ends the staff member's session (a paired device stays paired)

Installed only when :attr:`~gateway.access.gate.LocalAccess.required` (the pages listen on an
address that is not loopback). Then every other page and API answers only a signed-in browser:
a page sends the others to ``/sign-in`` (303), an API call gets 401 ``sign_in_required``.
``/metrics`` and ``/healthz`` stay open: Prometheus scrapes them, and they hold counters only,
no name and no card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from gateway.access.gate import DEVICE_COOKIE, DEVICE_NAME_MAX, STAFF_COOKIE, STAFF_SESSION, LocalAccess, Refused
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, translator

__all__ = ["OPEN_PATHS", "add_sign_in"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
OPEN_PATHS = frozenset({"/metrics", "/healthz", "/sign-in", "/pair", "/sign-out"})
# The pages one may be sent back to after signing in, and their address relative to /sign-in (the
# gateway may sit behind a prefix on the school's network, so no address here starts with /).
_BACK = {"/": "./", "/canteen": "canteen", "/roll-call": "roll-call"}
DEVICE_COOKIE_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _back(next_page: str, lang: str) -> str:
    return f"{_BACK.get(next_page, './')}?{urlencode({'lang': lang})}"


def add_sign_in(app: FastAPI, access: LocalAccess) -> None:
    """Put the gate in front of ``app``'s pages and add the sign-in page (see the module doc)."""

    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.visitor = None
        if request.url.path in OPEN_PATHS:
            return await call_next(request)
        visitor = await access.visitor(request.cookies)
        if visitor is None:
            lang = translator(request.query_params.get("lang", "kk")).language
            if request.url.path in _BACK:
                query = urlencode({"next": request.url.path, "lang": lang})
                return RedirectResponse(f"sign-in?{query}", status_code=303)
            _ = translator(lang)
            body = {"detail": {"code": "sign_in_required", "message": _("sign_in_required")}}
            return JSONResponse(body, status_code=401)
        request.state.visitor = visitor
        return await call_next(request)

    def page(request: Request, lang: str, next_page: str, status: int = 200, error: str | None = None) -> Response:
        _ = translator(lang)
        return TEMPLATES.TemplateResponse(
            request,
            "sign_in.html",
            {
                "_": _,
                "lang": _.language,
                "languages": LANGUAGES,
                "language_names": LANGUAGE_NAMES,
                "staff": access.signers(),
                "next": next_page if next_page in _BACK else "/",
                "error": None if error is None else _(error),
                "name_max": DEVICE_NAME_MAX,
            },
            status_code=status,
        )

    @app.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_page(
        request: Request, lang: str = Query(default="kk"), next: str = Query(default="/")
    ) -> Response:
        return page(request, lang, next)

    @app.post("/sign-in")
    async def sign_in(
        request: Request,
        staff_id: Annotated[str, Form(max_length=64)] = "",
        pin: Annotated[str, Form(max_length=32)] = "",
        next: Annotated[str, Form(max_length=32)] = "/",
        lang: Annotated[str, Form(max_length=8)] = "kk",
    ) -> Response:
        try:
            cookie, _person = await access.sign_in(staff_id, pin, _address(request))
        except Refused as refused:
            return page(request, lang, next, refused.status, refused.code)
        answer = RedirectResponse(_back(next, translator(lang).language), status_code=303)
        answer.set_cookie(STAFF_COOKIE, cookie, max_age=int(STAFF_SESSION.total_seconds()), **_cookie(request))
        return answer

    @app.post("/pair")
    async def pair(
        request: Request,
        code: Annotated[str, Form(max_length=32)] = "",
        name: Annotated[str, Form(max_length=DEVICE_NAME_MAX)] = "",
        next: Annotated[str, Form(max_length=32)] = "/",
        lang: Annotated[str, Form(max_length=8)] = "kk",
    ) -> Response:
        name = name.strip()
        if not name:
            return page(request, lang, next, 422, "device_name_required")
        try:
            token = await access.pair(code, name, _address(request))
        except Refused as refused:
            return page(request, lang, next, refused.status, refused.code)
        answer = RedirectResponse(_back(next, translator(lang).language), status_code=303)
        answer.set_cookie(DEVICE_COOKIE, token, max_age=DEVICE_COOKIE_AGE, **_cookie(request))
        return answer

    @app.post("/sign-out")
    async def sign_out(request: Request, lang: Annotated[str, Form(max_length=8)] = "kk") -> Response:
        await access.sign_out(await access.visitor(request.cookies), _address(request))
        answer = RedirectResponse(f"sign-in?{urlencode({'lang': translator(lang).language})}", status_code=303)
        answer.delete_cookie(STAFF_COOKIE, path="/")
        return answer


def _cookie(request: Request) -> dict[str, Any]:
    # Script never reads them; another site's page never sends them (the manual entry is a POST).
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}
