"""Signing in through the pages, for both doors: the parent app (``/app``) and the office (``/office``).

    GET  /{door}/sign-in, POST /{door}/sign-in          login and password
    GET  /{door}/sign-in/code, POST …/code               the second factor: the app's code or a recovery code
    GET  /{door}/sign-in/enrol, POST …/enrol             a staff member's first sign-in: set up the app
    POST /{door}/sign-out

A right password whose sign-in is not done yet (a code due, an app to set up) leaves a half-done
session in its own short-lived cookie (``mektep_pending``, 10 minutes), which opens nothing but the
next step. Once signed in, staff go to the office and families to the parent app, whichever door
they came in by. Everything posts back and redirects; no step needs a script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import segno
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from cloud_api.api.deps import SESSION_COOKIE, client_ip, require_same_origin
from cloud_api.integrations.clients import get_client
from cloud_api.services.accounts import (
    SignInResult,
    complete_sign_in,
    get_account,
    is_staff,
    promote,
    sign_in,
)
from cloud_api.services.passkeys import passkeys_of
from cloud_api.services.passwords import MAX_CHARS, HashSlots
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.services.sessions import PENDING_TTL, end_session, live_session
from cloud_api.web.pages import known_failure, page, page_language, remember_language
from shared.i18n import LANGUAGES, translator

__all__ = [
    "DOORS",
    "PENDING_COOKIE",
    "Door",
    "pending_response",
    "router",
    "set_session_cookie",
    "signed_in_response",
]

router = APIRouter(include_in_schema=False)
PENDING_COOKIE = "mektep_pending"
# Set by /oidc/authorize (cloud_api.integrations.oidc.web) before it sends a student here.
OIDC_RETURN_COOKIE = "mektep_oidc_return"
DOORS = ("app", "office")
SIGN_IN_DONE = frozenset({"password_set"})
SIGN_IN_FAILURES = frozenset(
    {
        "sign_in_failed",
        "login_locked",
        "too_many_attempts",
        "sign_in_expired",
        "busy",
        "second_factor_failed",
        "sso_failed",
        "sso_no_account",
        "bad_code",
    }
)


@dataclass(frozen=True)
class Door:
    """Which door a page belongs to: its path and its layout."""

    path: str

    @property
    def base(self) -> str:
        """The layout template's prefix (``parent_base.html`` or ``office_base.html``)."""
        return "parent" if self.path == "app" else "office"


def _door(request: Request) -> Door:
    return Door(request.url.path.split("/")[1])


DoorDep = Annotated[Door, Depends(_door)]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(request: Request, response: Response, token: str, expires_at: datetime) -> None:
    """The session's cookie: HttpOnly, SameSite=Lax, Secure over TLS, living as long as the session."""
    secure = request.url.scheme == "https"
    max_age = int((expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/", max_age=max_age)


def signed_in_response(request: Request, result: SignInResult, door: Door) -> Response:
    """Where a finished sign-in goes: staff to the office, families to the parent app."""
    assert result.token is not None and result.expires_at is not None and result.account_id is not None
    with _engine(request).connect() as conn:
        staff = is_staff(conn, result.account_id)
    # A student who came from a platform's "sign in with Mektep" goes back to finish it there.
    return_to = request.cookies.get(OIDC_RETURN_COOKIE, "")
    if return_to.startswith("/oidc/authorize?") and not staff:
        response = _back(return_to)
    else:
        response = _back("/office/" if staff else "/app/")
    response.delete_cookie(OIDC_RETURN_COOKIE, path="/")
    set_session_cookie(request, response, result.token, result.expires_at)
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


def pending_response(request: Request, result: SignInResult, door: Door, step: str) -> Response:
    """To the next step of a half-done sign-in (``code`` or ``enrol``), its session in the pending cookie."""
    assert result.token is not None
    response = _back(f"/{door.path}/sign-in/{step}")
    secure = request.url.scheme == "https"
    response.set_cookie(
        PENDING_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=int(PENDING_TTL.total_seconds()),
    )
    return response


def _page(request: Request, door: Door, name: str, language: str, **context: Any) -> HTMLResponse:
    return page(request, name, translator(language), door=door.base, door_path=door.path, **context)


# -- the password ----------------------------------------------------------------------------------


def sign_in_page(
    request: Request, door: DoorDep, lang: str | None = None, failed: str | None = None, done: str | None = None
) -> HTMLResponse:
    """The sign-in form in the language picked on it (``?lang=``), else the reader's kept choice (the
    language cookie), else their browser's (``Accept-Language``). A language picked is kept."""
    language = lang if lang in LANGUAGES else page_language(request)
    failed = known_failure(failed, SIGN_IN_FAILURES)
    providers = request.app.state.settings.sign_in_providers
    answer = _page(
        request,
        door,
        "sign_in.html",
        language,
        failed=failed,
        done=known_failure(done, SIGN_IN_DONE),
        providers={name: p.label for name, p in providers.items()},
        platform=_platform_waiting(request),
    )
    if lang in LANGUAGES:
        remember_language(request, answer, lang)
    return answer


def _platform_waiting(request: Request) -> str | None:
    """The name of the platform a student came from to sign in with Mektep, if one is waiting."""
    return_to = request.cookies.get(OIDC_RETURN_COOKIE, "")
    if not return_to.startswith("/oidc/authorize?"):
        return None
    client_id = parse_qs(urlsplit(return_to).query).get("client_id", [""])[0]
    with _engine(request).connect() as conn:
        client = get_client(conn, client_id) if client_id else None
    return client.name if client is not None and client.active and client.redirect_uris else None


async def sign_in_form(
    request: Request,
    door: DoorDep,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=MAX_CHARS)],
    lang: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Check the password; then the session, the second factor's page, or the form again with the reason."""
    slots: HashSlots = request.app.state.hash_slots
    agent = request.headers.get("user-agent")
    result = await slots.run(_sign_in, _engine(request), login, password, client_ip(request), agent)
    if result.reason == "second_factor_required":
        response = pending_response(request, result, door, "code")
    elif result.reason == "enrol":
        response = pending_response(request, result, door, "enrol")
    elif result.ok:
        response = signed_in_response(request, result, door)
    else:
        reason = "sign_in_failed" if result.until is None else "login_locked"
        picked = f"lang={lang}&" if lang in LANGUAGES else ""
        response = _back(f"/{door.path}/sign-in?{picked}failed={reason}")
    remember_language(request, response, lang)
    return response


def _sign_in(engine: Engine, login: str, password: str, ip: str | None, agent: str | None) -> SignInResult:
    with engine.begin() as conn:  # the attempt is recorded either way
        return sign_in(conn, login, password, ip=ip, user_agent=agent)


# -- the second factor -----------------------------------------------------------------------------


def code_page(request: Request, door: DoorDep, failed: str | None = None) -> Response:
    """Ask for the app's code (or a recovery code, or the account's passkey)."""
    token = request.cookies.get(PENDING_COOKIE, "")
    with _engine(request).connect() as conn:
        pending = live_session(conn, token, datetime.now(UTC), stages=("second_factor",)) if token else None
        has_passkey = pending is not None and bool(passkeys_of(conn, pending.account_id))
    if pending is None:
        return _back(f"/{door.path}/sign-in?failed=sign_in_expired")
    failed = known_failure(failed, SIGN_IN_FAILURES)
    return _page(request, door, "sign_in_code.html", page_language(request), failed=failed, has_passkey=has_passkey)


def code_form(request: Request, door: DoorDep, code: Annotated[str, Form(max_length=32)]) -> Response:
    """Take the code: signed in, or the page again with the reason (a wrong code counts as a failed sign-in)."""
    token = request.cookies.get(PENDING_COOKIE, "")
    with _engine(request).begin() as conn:
        result = complete_sign_in(
            conn, token, code, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
    if result.ok:
        return signed_in_response(request, result, door)
    if result.reason == "bad_code":
        return _back(f"/{door.path}/sign-in/code?failed=second_factor_failed")
    reason = "login_locked" if result.until is not None else "sign_in_expired"
    return _back(f"/{door.path}/sign-in?failed={reason}")


def enrol_page(request: Request, door: DoorDep, failed: str | None = None) -> Response:
    """A staff member's first sign-in: the QR code of a new secret for their authenticator app."""
    token = request.cookies.get(PENDING_COOKIE, "")
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        pending = live_session(conn, token, now, stages=("enrol",))
        account = get_account(conn, pending.account_id) if pending else None
        if account is None:
            return _back(f"/{door.path}/sign-in?failed=sign_in_expired")
        enrolment = begin_totp(conn, account.id, account.login, now, fresh=False)
        staff = is_staff(conn, account.id)
    _ = translator(page_language(request))
    if staff:
        intro = _("Your work needs a second factor: a code from an app on your phone, asked at every sign-in.")
    else:
        intro = _("Your account asks for a code from an app on your phone at every sign-in: set it up now.")
    return _page(
        request,
        door,
        "sign_in_enrol.html",
        _.language,
        intro=intro,
        qr=segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2),
        secret=enrolment.secret,
        action=f"/{door.path}/sign-in/enrol",
        failed=known_failure(failed, SIGN_IN_FAILURES),
    )


def enrol_form(request: Request, door: DoorDep, code: Annotated[str, Form(max_length=32)]) -> Response:
    """Confirm the app with its first code: the recovery codes, shown once, and the full session."""
    token = request.cookies.get(PENDING_COOKIE, "")
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        pending = live_session(conn, token, now, stages=("enrol",))
        account = get_account(conn, pending.account_id) if pending else None
        if account is None:
            return _back(f"/{door.path}/sign-in?failed=sign_in_expired")
        codes = confirm_totp(conn, account.id, code, now, actor=f"account:{account.id}", school_id=account.school_id)
        if codes is None:
            return _back(f"/{door.path}/sign-in/enrol?failed=bad_code")
        result = promote(conn, token, ip=client_ip(request), user_agent=request.headers.get("user-agent"))
        staff = is_staff(conn, account.id)
    assert result.token is not None and result.expires_at is not None
    response = _page(
        request,
        door,
        "recovery_codes.html",
        page_language(request),
        codes=codes,
        next_url="/office/" if staff else "/app/",
    )
    set_session_cookie(request, response, result.token, result.expires_at)
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


def sign_out_form(request: Request, door: DoorDep, lang: Annotated[str, Form()] = "") -> Response:
    """End the session and forget its cookie; keep the language the reader was reading in (``lang``, the
    signed-out page's), so the sign-in page they land on speaks it."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with _engine(request).begin() as conn:
            end_session(conn, token, datetime.now(UTC))
    response = _back(f"/{door.path}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    remember_language(request, response, lang)
    return response


for _door_path in DOORS:
    _checked = [Depends(require_same_origin)]
    router.add_api_route(f"/{_door_path}/sign-in", sign_in_page, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/{_door_path}/sign-in", sign_in_form, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door_path}/sign-in/code", code_page, methods=["GET"])
    router.add_api_route(f"/{_door_path}/sign-in/code", code_form, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door_path}/sign-in/enrol", enrol_page, methods=["GET"])
    router.add_api_route(f"/{_door_path}/sign-in/enrol", enrol_form, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door_path}/sign-out", sign_out_form, methods=["POST"], dependencies=_checked)
