"""What every server-rendered page shares: the templates, the reader's language, the messages a page may show.

Every page extends ``base.html`` through its door's layout (``parent_base.html`` for the parent app,
``office_base.html`` for the office) and gets ``_`` (the translator), ``lang`` and the language
switch's names. A page reads its language from the reader's choice (the ``mektep_lang`` cookie),
else from the browser's ``Accept-Language``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud_api.api.deps import SESSION_COOKIE
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, Translator
from shared.languages import language_of
from shared.localtime import LOCAL_TZ

__all__ = [
    "LANG_COOKIE",
    "STATIC",
    "TEMPLATES",
    "RotatedSessionCookie",
    "SignInNeeded",
    "device_name",
    "known_failure",
    "page",
    "page_language",
    "remember_language",
]

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
# A catalog's refusal is written as the API says it (lower case, after "code:"); a page shows it as a sentence.
TEMPLATES.env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
# A stored instant (UTC) as the school's clock shows it: dates and times on pages are local.
TEMPLATES.env.filters["local"] = lambda at: at.astimezone(LOCAL_TZ) if at is not None and at.tzinfo else at
STATIC = HERE / "static"
LANG_COOKIE = "mektep_lang"
LANG_COOKIE_AGE_S = 365 * 24 * 3600  # a reader's language outlives their sessions (a sign-out keeps it)


class SignInNeeded(Exception):
    """No session (or none for this door): the page sends the browser to its door's sign-in form."""


class RotatedSessionCookie:
    """ASGI middleware: a page that rotated its device session's token (``request.state.rotated``, an
    ``Opened``) answers with the new token's cookie, whatever the page itself answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            rotated = scope.get("state", {}).get("rotated")
            if message["type"] == "http.response.start" and rotated is not None:
                cookie = Response()
                max_age = int((rotated.expires_at - datetime.now(UTC)).total_seconds())
                secure = scope.get("scheme") == "https"
                cookie.set_cookie(
                    SESSION_COOKIE,
                    rotated.token,
                    httponly=True,
                    samesite="lax",
                    secure=secure,
                    path="/",
                    max_age=max_age,
                )
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def page(request: Request, name: str, _: Translator, **context: Any) -> HTMLResponse:
    """The template ``name`` rendered in ``_``'s language."""
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"_": _, "lang": _.language, "languages": LANGUAGES, "language_names": LANGUAGE_NAMES, **context},
    )


def page_language(request: Request) -> str:
    """The reader's language: their choice, else their browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else language_of(request.headers.get("accept-language"))


def remember_language(request: Request, response: Response, language: str | None) -> None:
    """Keep ``language`` (if we speak it) as the reader's choice: the sign-in pages, and the pages of a
    reader not signed in, are in it from now on."""
    if language in LANGUAGES:
        secure = request.url.scheme == "https"
        response.set_cookie(
            LANG_COOKIE, str(language), max_age=LANG_COOKIE_AGE_S, samesite="lax", secure=secure, path="/"
        )


def known_failure(code: str | None, known: frozenset[str]) -> str | None:
    """``code`` when it is one of ``known`` (then a page shows its message), else None.

    A page shows only its own messages from its address (``?failed=``): a link can name one of
    these, never put its own words on our page (a ready phishing lure otherwise).
    """
    return code if code in known else None


# (what the User-Agent holds, the name people know), the first match wins: Edge and Yandex say Chrome too.
_BROWSERS = (("Edg/", "Edge"), ("YaBrowser/", "Yandex Browser"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"))
_SYSTEMS_LAST = (("Mac OS X", "macOS"), ("Linux", "Linux"))


def device_name(user_agent: str | None) -> str | None:
    """A browser and system a person recognises (``Chrome, Android``) from a User-Agent; None if unknown."""
    if not user_agent:
        return None
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    if browser is None and "Safari/" in user_agent:
        browser = "Safari"
    system = next((name for mark, name in (*_SYSTEMS, *_SYSTEMS_LAST) if mark in user_agent), None)
    return ", ".join(part for part in (browser, system) if part) or None
