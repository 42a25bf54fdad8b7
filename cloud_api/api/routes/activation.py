"""Accounts for families from the roster, and passwords chosen with one-time codes.

POST /v1/schools/{school_id}/accounts/activation   accounts with activation codes for the roster's guardians
                                                   and students who have none (school_admin): the letters
POST /v1/accounts/{account_id}/reset-code          a reset code for the account's owner (whoever manages it)
POST /v1/auth/activate                             choose a password with a code
POST /v1/auth/forgot                               a reset code by e-mail, when the account has an e-mail
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlalchemy import Engine

from cloud_api.api.deps import CurrentAccount, EngineDep, SchoolAdmin, SchoolPath, SettingsDep
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.accounts import (
    ActivationBatch,
    CodeActivation,
    ForgotPassword,
    LetterPublic,
    OneTimeCode,
    SkippedPerson,
)
from cloud_api.core.errors import DomainError
from cloud_api.services.account_lifecycle import may_manage
from cloud_api.services.accounts import account_by_login, account_email, get_account, normalise_login
from cloud_api.services.family_accounts import create_family_accounts, set_password_with_code
from cloud_api.services.mail import mail_configured, send_mail
from cloud_api.services.one_time_codes import TTL, issue_code, pending_since
from cloud_api.settings import CloudSettings
from shared.i18n import translator
from shared.languages import language_of

__all__ = ["activation_link", "mail_activation", "mail_reset_code", "router"]

router = APIRouter(tags=["accounts"])
log = logging.getLogger(__name__)
_POLICY = ("password_too_short", "password_too_long", "password_contains_login", "password_too_common")


def activation_link(request: Request, settings: CloudSettings, account_id: UUID, code: str, purpose: str) -> str:
    """The page where the owner chooses their password, with the account and the code filled in."""
    base = settings.public_url or str(request.base_url).rstrip("/")
    return f"{base}/app/activate?a={account_id}&c={code}&p={purpose}"


@router.post(
    "/v1/schools/{school_id}/accounts/activation",
    response_model=ActivationBatch,
    summary="Accounts for the roster's guardians and students, with activation letters",
)
def post_activation(
    school_id: SchoolPath, request: Request, principal: SchoolAdmin, engine: EngineDep, settings: SettingsDep
) -> ActivationBatch:
    """Every active guardian and student with a phone or an e-mail and no account gets one, with a code.

    The codes are in this answer only: print the letters now (the office does), or issue them again.
    """
    with engine.begin() as conn:
        letters, skipped = create_family_accounts(conn, school_id, datetime.now(UTC), actor=principal.actor)
    return ActivationBatch(
        letters=[
            LetterPublic(
                account_id=letter.account_id,
                login=letter.login,
                name=letter.name,
                role=letter.role,  # type: ignore[arg-type]
                code=letter.code,
                link=activation_link(request, settings, letter.account_id, letter.code, "activation"),
                children=letter.children,
            )
            for letter in letters
        ],
        skipped=[SkippedPerson(person_id=s.person_id, name=s.name, reason=s.reason) for s in skipped],
    )


@router.post(
    "/v1/accounts/{account_id}/reset-code",
    response_model=OneTimeCode,
    summary="A reset code for the account's owner",
    responses=refusals("not_allowed", "unknown_account"),
)
def post_reset_code(
    account_id: UUID, request: Request, principal: CurrentAccount, engine: EngineDep, settings: SettingsDep
) -> OneTimeCode:
    """Hand the code to its owner: they choose their own password with it, within an hour. Journalled."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        target = get_account(conn, account_id)
        if target is None:
            raise DomainError("unknown_account")
        if not may_manage(conn, principal, target):
            raise DomainError("not_allowed")
        code = issue_code(conn, account_id, "reset", now, actor=principal.actor, school_id=target.school_id)
    return OneTimeCode(
        code=code, expires_at=now + TTL["reset"], link=activation_link(request, settings, account_id, code, "reset")
    )


@router.post(
    "/v1/auth/activate",
    status_code=204,
    summary="Choose a password with a one-time code",
    responses=refusals("code_wrong", "code_spent", *_POLICY),
)
def post_activate(body: CodeActivation, engine: EngineDep) -> Response:
    """A wrong code counts a try (five, and the code is spent: ask for a new one); then sign in."""
    outcome = _activate(engine, body)
    if outcome != "ok":
        raise DomainError(f"code_{outcome}")
    return Response(status_code=204)


def _activate(engine: Engine, body: CodeActivation) -> str:
    with engine.begin() as conn:  # a wrong try is committed: it counts
        return set_password_with_code(conn, body.account_id, body.purpose, body.code, body.password, datetime.now(UTC))


@router.post(
    "/v1/auth/forgot",
    status_code=202,
    summary="Send a reset code by e-mail",
    responses=refusals("mail_not_configured"),
)
def post_forgot(
    body: ForgotPassword, request: Request, background: BackgroundTasks, engine: EngineDep, settings: SettingsDep
) -> Response:
    """The same answer whether or not the login exists and has an e-mail: nobody learns which do."""
    if not mail_configured(settings):
        raise DomainError("mail_not_configured")
    language = language_of(request.headers.get("accept-language"))
    # After the answer: how long the mail takes must not tell whether the login has an e-mail.
    background.add_task(mail_reset_code, engine, settings, body.login, language)
    return Response(status_code=202)


def mail_activation(settings: CloudSettings, to: str, login: str, code: str, link: str, language: str) -> bool:
    """Mail an activation letter (the login, the code and the link); whether it went (blocking)."""
    _ = translator(language)
    body = "\n\n".join(
        [
            _("Your school made you an account at Mektep Gate. Your login: {login}", login=login),
            _("Your code: {code}", code=code),
            _("Open {link}, enter the code and choose your password. The code works once, for 30 days.", link=link),
        ]
    )
    try:
        send_mail(settings, to, _("Mektep Gate: your account"), body)
    except (OSError, smtplib.SMTPException):
        log.warning("an activation letter could not be mailed", exc_info=True)
        return False
    return True


# A person who asks again within this time gets no second mail: the first is on its way.
_RESEND_AFTER = timedelta(minutes=2)


def mail_reset_code(engine: Engine, settings: CloudSettings, login: str, language: str) -> bool:
    """Mail a reset code to the account of ``login`` if it has an e-mail; whether a mail went.

    The code is committed before the mail is sent, so a mailed code always works.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        try:
            account = account_by_login(conn, normalise_login(login))
        except DomainError:
            return False
        if account is None or not account.active:
            return False
        email = account_email(conn, account.id)
        if (
            email is None
            or (pending_since(conn, account.id, "reset", now) or now - _RESEND_AFTER) > now - _RESEND_AFTER
        ):
            return False
        code = issue_code(conn, account.id, "reset", now, actor=f"account:{account.id}", school_id=account.school_id)
    _ = translator(language)
    link = f"{settings.public_url}/app/activate?a={account.id}&c={code}&p=reset"  # never the request's Host
    body = "\n\n".join(
        [
            _("Someone (we hope you) asked to reset the password of {login} at Mektep Gate.", login=account.login),
            _("Your code: {code}", code=code),
            _("Open {link} and choose a new password within an hour.", link=link),
            _("If it was not you, ignore this message: your password stays as it is."),
        ]
    )
    try:
        send_mail(settings, email, _("Mektep Gate: password reset code"), body)
    except (OSError, smtplib.SMTPException):
        log.warning("the reset code of an account could not be mailed", exc_info=True)
        return False
    return True
