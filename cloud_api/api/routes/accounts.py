"""Sign-in, one's own account, and accounts and roles managed by a school's administrator.

POST /v1/auth/sign-in                        a login and password → a session token
POST /v1/auth/sign-out                       ends the session of the bearer token
GET  /v1/me                                  the signed-in account and its roles in force
POST /v1/me/password                         change one's own password (the old one required)
POST /v1/accounts                            a new account (school_admin of its school, or the admin token)
POST /v1/accounts/{account_id}/roles         grant or revoke a role (likewise)
GET  /v1/schools/{school_id}/sign-in-failures  the failed sign-ins of a school's accounts (school_admin)
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from sqlalchemy import Connection

from cloud_api.account_models import (
    AccountCreate,
    AccountPublic,
    GrantPublic,
    PasswordChange,
    RoleChange,
    SessionPublic,
    SignIn,
    SignInFailure,
)
from cloud_api.api.deps import BearerToken, CurrentAccount, EngineDep, SchoolAdmin
from cloud_api.api.errors import coded_error
from cloud_api.services.accounts import (
    SCHOOL_ROLES,
    AccountError,
    Principal,
    Role,
    change_password,
    create_account,
    failed_sign_ins,
    get_account,
    grant_role,
    revoke_role,
    roles_in_force,
    sign_in,
    sign_out,
)

__all__ = ["router"]

router = APIRouter(tags=["accounts"])

AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]

# Which HTTP status each account error is.
STATUS = {
    "sign_in_failed": 401,
    "login_locked": 429,
    "wrong_password": 403,
    "not_allowed": 403,
    "unknown_account": 404,
    "unknown_person": 404,
    "login_taken": 409,
}


def refuse(error: AccountError, accept_language: str | None) -> HTTPException:
    """The HTTP answer of an ``AccountError`` (422 for a code without its own status)."""
    return coded_error(STATUS.get(error.code, 422), error.code, accept_language)


def account_public(conn: Connection, account_id: UUID) -> AccountPublic:
    """An account with its roles in force, as the API shows it."""
    account = get_account(conn, account_id)
    if account is None:
        raise AccountError("unknown_account")
    roles = sorted(roles_in_force(conn, account_id), key=lambda g: (g.role.value, g.scope or ""))
    return AccountPublic(
        id=account.id,
        login=account.login,
        person_id=account.person_id,
        school_id=account.school_id,
        active=account.active,
        created_at=account.created_at,
        roles=[GrantPublic(role=g.role, scope=g.scope) for g in roles],
    )


@router.post(
    "/v1/auth/sign-in",
    response_model=SessionPublic,
    summary="Sign in with a login and password",
    responses={401: {"description": "Wrong login or password"}, 429: {"description": "Locked: too many failures"}},
)
def post_sign_in(
    body: SignIn, request: Request, engine: EngineDep, accept_language: AcceptLanguage = None
) -> SessionPublic:
    """A session token for `Authorization: Bearer <token>`.

    Every attempt is recorded. After 5 failures within 15 minutes the login is locked for 15 minutes.
    """
    ip = request.client.host if request.client else None
    # The attempt is committed whether or not it succeeds: a failure must stay on record.
    with engine.begin() as conn:
        result = sign_in(conn, body.login, body.password, ip=ip)
        account = account_public(conn, result.account_id) if result.ok and result.account_id else None
    if result.reason == "locked":
        raise refuse(AccountError("login_locked"), accept_language)
    if account is None or result.token is None or result.expires_at is None:
        # One answer for an unknown login and a wrong password: nobody learns which logins exist.
        raise refuse(AccountError("sign_in_failed"), accept_language)
    return SessionPublic(token=result.token, expires_at=result.expires_at, account=account)


@router.post("/v1/auth/sign-out", status_code=204, summary="End this session")
def post_sign_out(token: BearerToken, engine: EngineDep) -> Response:
    """Revoke the bearer token's session (an unknown token is already signed out)."""
    with engine.begin() as conn:
        sign_out(conn, token)
    return Response(status_code=204)


def _own_account(principal: Principal, accept_language: str | None) -> UUID:
    if principal.account is None:
        raise refuse(AccountError("unknown_account"), accept_language)  # the admin token has no account
    return principal.account.id


@router.get("/v1/me", response_model=AccountPublic, summary="The signed-in account")
def get_me(principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None) -> AccountPublic:
    """The signed-in account and its roles in force."""
    account_id = _own_account(principal, accept_language)
    with engine.connect() as conn:
        return account_public(conn, account_id)


@router.post("/v1/me/password", status_code=204, summary="Change one's own password")
def post_my_password(
    body: PasswordChange, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> Response:
    """Change the password; the old one is required. Every session of the account ends: sign in again."""
    account_id = _own_account(principal, accept_language)
    try:
        with engine.begin() as conn:
            change_password(conn, account_id, body.old_password, body.new_password, actor=principal.actor)
    except AccountError as error:
        raise refuse(error, accept_language) from None
    return Response(status_code=204)


@router.post("/v1/accounts", response_model=AccountPublic, status_code=201, summary="Create an account")
def post_account(
    body: AccountCreate, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> AccountPublic:
    """A new account. A school's administrator creates accounts of their own school only."""
    try:
        if not principal.system and (body.school_id is None or not principal.has(Role.SCHOOL_ADMIN, body.school_id)):
            raise AccountError("not_allowed")
        with engine.begin() as conn:
            account = create_account(
                conn,
                body.login,
                actor=principal.actor,
                password=body.password,
                person_id=body.person_id,
                school_id=body.school_id,
            )
            return account_public(conn, account.id)
    except AccountError as error:
        raise refuse(error, accept_language) from None


@router.post("/v1/accounts/{account_id}/roles", response_model=AccountPublic, summary="Grant or revoke a role")
def post_role(
    account_id: UUID,
    body: RoleChange,
    principal: CurrentAccount,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> AccountPublic:
    """Grant (or revoke, `granted: false`) a role; every change is kept as history and audited.

    A school's administrator may grant school roles within their school, to accounts of that school.
    """
    try:
        with engine.begin() as conn:
            target = get_account(conn, account_id)
            if target is None:
                raise AccountError("unknown_account")
            if not principal.system and not (
                body.role in SCHOOL_ROLES
                and body.scope is not None
                and body.scope == target.school_id
                and principal.has(Role.SCHOOL_ADMIN, body.scope)
            ):
                raise AccountError("not_allowed")
            change = grant_role if body.granted else revoke_role
            change(conn, account_id, body.role, body.scope, actor=principal.actor)
            return account_public(conn, account_id)
    except AccountError as error:
        raise refuse(error, accept_language) from None


@router.get(
    "/v1/schools/{school_id}/sign-in-failures",
    response_model=list[SignInFailure],
    summary="Failed sign-ins of a school's accounts",
    responses={403: {"description": "Not school_admin of this school"}},
)
def get_sign_in_failures(
    school_id: str,
    _: SchoolAdmin,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[SignInFailure]:
    """Failed attempts on logins of this school's accounts, newest first."""
    with engine.connect() as conn:
        rows = failed_sign_ins(conn, school_id, limit=limit)
    return [SignInFailure(login=r["login"], at=r["at"], reason=r["reason"], ip=r["ip"]) for r in rows]
