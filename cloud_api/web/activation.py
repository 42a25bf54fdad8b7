"""Pages for choosing a password with a one-time code, and the school's activation letters.

GET  /app/activate?a=&c=&p=, POST /app/activate   the code (filled in from the letter's QR) and a password
GET  /app/forgot, POST /app/forgot                a reset code by e-mail (when the deployment sends mail)
POST /office/schools/{school_id}/letters          accounts for the roster's families: letters to print
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import segno
from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.api.routes.activation import activation_link, mail_activation, mail_reset_code
from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import Role, account_by_login, normalise_login
from cloud_api.services.family_accounts import create_family_accounts, set_password_with_code
from cloud_api.services.mail import mail_configured
from cloud_api.services.one_time_codes import TTL
from cloud_api.services.passwords import MAX_CHARS, check_password
from cloud_api.services.people import normalise_class
from cloud_api.web.account import MeDep
from cloud_api.web.pages import known_failure, page, page_language
from shared.i18n import LANGUAGES, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
ACTIVATION_FAILURES = frozenset(
    {
        "code_wrong",
        "code_spent",
        "code_not_accepted",
        "password_too_short",
        "password_too_long",
        "password_contains_login",
        "password_too_common",
    }
)
_checked = [Depends(require_same_origin)]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/app/activate", response_class=HTMLResponse)
def activate_page(
    request: Request,
    a: UUID | None = None,
    c: str = "",
    p: str = "activation",
    lang: str | None = None,
    failed: str | None = None,
) -> HTMLResponse:
    """The code (from the letter's QR code, or typed) and the password the person chooses."""
    language = lang if lang in LANGUAGES else page_language(request)
    return page(
        request,
        "activate.html",
        translator(language),
        account=a,
        code=c[:16],
        purpose="reset" if p == "reset" else "activation",
        failed=known_failure(failed, ACTIVATION_FAILURES),
    )


@router.post("/app/activate", dependencies=_checked)
def activate_form(
    request: Request,
    code: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=MAX_CHARS)],
    account: Annotated[UUID | None, Form()] = None,
    login: Annotated[str, Form(max_length=254)] = "",
    purpose: Annotated[str, Form(pattern="^(activation|reset)$")] = "activation",
) -> Response:
    """Set the password (the account from the letter's link, or its login typed); then to the sign-in page."""
    again = f"/app/activate?p={purpose}" + (f"&a={account}" if account else "")
    try:
        with _engine(request).begin() as conn:  # a wrong try is committed: it counts
            by_login = account is None
            if by_login:
                # Typed by hand: one answer whatever the login, so that the form tells nobody which logins
                # exist. The password is checked against what was typed, before any account is looked up.
                check_password(password, login, staff=False)
                found = account_by_login(conn, normalise_login(login)) if login.strip() else None
                if found is None or not found.active:
                    return _back(f"{again}&failed=code_not_accepted")
                account = found.id
            outcome = set_password_with_code(conn, account, purpose, code, password, datetime.now(UTC))  # type: ignore[arg-type]
    except DomainError as refused:
        return _back(f"{again}&failed={refused.code}")
    if outcome != "ok":
        return _back(f"{again}&failed={'code_not_accepted' if by_login else f'code_{outcome}'}")
    return _back("/app/sign-in?done=password_set")


@router.get("/app/forgot", response_class=HTMLResponse)
def forgot_page(request: Request, sent: bool = False) -> HTMLResponse:
    """Ask for a reset code by e-mail, or (when this deployment sends no mail) whom to ask for one."""
    mail = mail_configured(request.app.state.settings)
    return page(request, "forgot.html", translator(page_language(request)), sent=sent, mail=mail)


@router.post("/app/forgot", dependencies=_checked)
def forgot_form(request: Request, background: BackgroundTasks, login: Annotated[str, Form(max_length=254)]) -> Response:
    """The same answer, as fast, whether or not the login exists: the mail goes after the answer."""
    settings = request.app.state.settings
    if mail_configured(settings):
        background.add_task(mail_reset_code, _engine(request), settings, login, page_language(request))
    return _back("/app/forgot?sent=true")


@router.post("/office/schools/{school_id}/letters", dependencies=_checked, response_class=HTMLResponse)
def letters_form(
    request: Request,
    me: MeDep,
    school_id: Annotated[str, Path(min_length=1, max_length=64)],
    class_name: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Accounts for the roster's guardians and students who have none (of one class, or all), and their
    letters to print now."""
    if not me.principal.has(Role.SCHOOL_ADMIN, school_id):
        raise DomainError("not_allowed")
    now = datetime.now(UTC)
    settings = request.app.state.settings
    only = normalise_class(class_name) if class_name.strip() else None
    with _engine(request).begin() as conn:
        letters, skipped = create_family_accounts(conn, school_id, now, actor=me.principal.actor, class_name=only)
    shown = []
    for letter in letters:
        link = activation_link(request, settings, letter.account_id, letter.code, "activation")
        # Sent as well as printed where the deployment sends mail and the login is an e-mail.
        mailed = False
        if mail_configured(settings) and "@" in letter.login:
            mailed_link = f"{settings.public_url}/app/activate?a={letter.account_id}&c={letter.code}&p=activation"
            mailed = mail_activation(settings, letter.login, letter.login, letter.code, mailed_link, letter.language)
        shown.append(
            {
                **letter.__dict__,
                "address": (settings.public_url or str(request.base_url).rstrip("/")) + "/app/activate",
                "qr": segno.make(link, error="m").svg_data_uri(scale=4, border=2),
                "language": letter.language if letter.language in ("kk", "ru") else "kk",
                "mailed": mailed,
            }
        )
    _ = translator(page_language(request))
    return page(
        request,
        "letters.html",
        _,
        door="office",
        door_path="office",
        signed_in=True,
        letters=shown,
        skipped=skipped,
        translators={lang: translator(lang) for lang in ("kk", "ru")},
        expires=(now + TTL["activation"]).date(),
    )
