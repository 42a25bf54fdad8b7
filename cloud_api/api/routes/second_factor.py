"""One's own second factor and sessions; an administrator's reset of someone's second factor.

POST   /v1/me/second-factor/totp                 a new authenticator secret (its QR's URI), unconfirmed
POST   /v1/me/second-factor/totp/confirm         confirm it with a code: ten recovery codes (and, for a
                                                 staff member's first sign-in, the full session)
GET    /v1/me/sessions                           one's sessions in force, to recognise them
DELETE /v1/me/sessions/{id}                      end one of them
POST   /v1/accounts/{account_id}/second-factor/reset   remove an account's second factors (its school's
                                                 administrator, or the deployment's; audited)
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response

from cloud_api.api.deps import BearerToken, CurrentAccount, EngineDep, EnrollingAccount, client_ip
from cloud_api.api.errors import refusals
from cloud_api.api.routes.accounts import account_public
from cloud_api.api.schemas.accounts import CodeBody, SessionInfo, SessionPublic, TotpConfirmed, TotpEnrolment
from cloud_api.core.errors import DomainError
from cloud_api.services.account_lifecycle import may_manage
from cloud_api.services.accounts import Principal, get_account, promote
from cloud_api.services.second_factor import begin_totp, confirm_totp, remove_second_factors
from cloud_api.services.sessions import end_sessions, sessions_of, token_hash

__all__ = ["router"]

router = APIRouter(tags=["accounts"])


def _own(principal: Principal) -> UUID:
    if principal.account is None:
        raise DomainError("unknown_account")  # the admin token has no account
    return principal.account.id


@router.post(
    "/v1/me/second-factor/totp",
    response_model=TotpEnrolment,
    summary="Begin enrolling an authenticator app",
    responses=refusals("unknown_account"),
)
def post_totp(principal: EnrollingAccount, engine: EngineDep) -> TotpEnrolment:
    """A new secret: show `uri` as a QR code for the app to scan (or the `secret` to type), then confirm.

    Until confirmed the account's earlier authenticator, if any, is replaced by nothing: confirm at once.
    """
    assert principal.account is not None
    with engine.begin() as conn:
        enrolment = begin_totp(conn, principal.account.id, principal.account.login, datetime.now(UTC))
    return TotpEnrolment(secret=enrolment.secret, uri=enrolment.uri)


@router.post(
    "/v1/me/second-factor/totp/confirm",
    response_model=TotpConfirmed,
    summary="Confirm the authenticator with a code",
    responses=refusals("bad_code"),
)
def post_totp_confirm(
    body: CodeBody, request: Request, principal: EnrollingAccount, token: BearerToken, engine: EngineDep
) -> TotpConfirmed:
    """Ten recovery codes, shown once; a staff member's enrolling session is replaced by a full one."""
    account = principal.account
    assert account is not None
    with engine.begin() as conn:
        codes = confirm_totp(
            conn, account.id, body.code, datetime.now(UTC), actor=principal.actor, school_id=account.school_id
        )
        if codes is None:
            raise DomainError("bad_code")
        promoted = promote(conn, token, ip=client_ip(request), user_agent=request.headers.get("user-agent"))
        session = None
        if promoted.token is not None and promoted.expires_at is not None:
            session = SessionPublic(
                token=promoted.token, expires_at=promoted.expires_at, account=account_public(conn, account.id)
            )
    return TotpConfirmed(recovery_codes=codes, session=session)


@router.get("/v1/me/sessions", response_model=list[SessionInfo], summary="Your sessions in force")
def get_sessions(principal: CurrentAccount, token: BearerToken, engine: EngineDep) -> list[SessionInfo]:
    """Every device and browser signed in as you, newest first; `current` is this one."""
    mine = token_hash(token)
    with engine.connect() as conn:
        rows = sessions_of(conn, _own(principal), datetime.now(UTC))
    return [
        SessionInfo(
            id=r["token_hash"],
            kind=r["kind"],
            method=r["method"],
            created_at=r["created_at"],
            last_seen_at=r["last_seen_at"],
            expires_at=r["expires_at"],
            ip=r["ip"],
            user_agent=r["user_agent"],
            current=r["token_hash"] == mine,
        )
        for r in rows
    ]


@router.delete(
    "/v1/me/sessions/{session_id}",
    status_code=204,
    summary="End one of your sessions",
    responses=refusals("not_found"),
)
def delete_session(session_id: str, principal: CurrentAccount, engine: EngineDep) -> Response:
    """Sign that device out (this one too, if it is its id)."""
    with engine.begin() as conn:
        if end_sessions(conn, _own(principal), datetime.now(UTC), hashed=session_id) == 0:
            raise DomainError("not_found")
    return Response(status_code=204)


@router.post(
    "/v1/accounts/{account_id}/second-factor/reset",
    status_code=204,
    summary="Remove an account's second factors",
    responses=refusals("not_allowed", "unknown_account"),
)
def post_second_factor_reset(account_id: UUID, principal: CurrentAccount, engine: EngineDep) -> Response:
    """For a staff member who lost their phone and recovery codes: they enrol again at their next sign-in.

    The account's school administrator may do it, or the deployment's; it is journalled, and every
    session of the account ends.
    """
    with engine.begin() as conn:
        target = get_account(conn, account_id)
        if target is None:
            raise DomainError("unknown_account")
        own = principal.account is not None and principal.account.id == account_id
        if own or not may_manage(conn, principal, target):
            raise DomainError("not_allowed")  # nobody resets their own: that is what the recovery codes are for
        now = datetime.now(UTC)
        remove_second_factors(conn, account_id, now, actor=principal.actor, school_id=target.school_id)
        end_sessions(conn, account_id, now)
    return Response(status_code=204)
