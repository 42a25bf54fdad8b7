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

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from cloud_api.api.deps import BearerToken, CurrentAccount, EngineDep, SchoolAdmin, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.accounts import (
    AccountCreate,
    AccountPublic,
    GrantPublic,
    PasswordChange,
    RoleChange,
    SessionPublic,
    SignIn,
    SignInFailure,
)
from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import (
    SCHOOL_ROLES,
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


def account_public(conn: Connection, account_id: UUID) -> AccountPublic:
    """An account with its roles in force, as the API shows it."""
    account = get_account(conn, account_id)
    if account is None:
        raise DomainError("unknown_account")
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
    responses=refusals("sign_in_failed", "login_locked"),
)
def post_sign_in(body: SignIn, request: Request, engine: EngineDep) -> SessionPublic:
    """A session token for `Authorization: Bearer <token>`.

    Every attempt is recorded. After 5 failures within 15 minutes the login is locked for 15 minutes.
    """
    ip = request.client.host if request.client else None
    # The attempt is committed whether or not it succeeds: a failure must stay on record.
    with engine.begin() as conn:
        result = sign_in(conn, body.login, body.password, ip=ip)
        account = account_public(conn, result.account_id) if result.ok and result.account_id else None
    if result.reason == "locked":
        raise DomainError("login_locked")
    if account is None or result.token is None or result.expires_at is None:
        # One answer for an unknown login and a wrong password: nobody learns which logins exist.
        raise DomainError("sign_in_failed")
    return SessionPublic(token=result.token, expires_at=result.expires_at, account=account)


@router.post("/v1/auth/sign-out", status_code=204, summary="End this session")
def post_sign_out(_: CurrentAccount, token: BearerToken, engine: EngineDep) -> Response:
    """Revoke the bearer token's session; a session that has already ended is ``sign_in_required``."""
    with engine.begin() as conn:
        sign_out(conn, token)
    return Response(status_code=204)


def _own_account(principal: Principal) -> UUID:
    if principal.account is None:
        raise DomainError("unknown_account")  # the admin token has no account
    return principal.account.id


@router.get(
    "/v1/me", response_model=AccountPublic, summary="The signed-in account", responses=refusals("unknown_account")
)
def get_me(principal: CurrentAccount, engine: EngineDep) -> AccountPublic:
    """The signed-in account and its roles in force."""
    account_id = _own_account(principal)
    with engine.connect() as conn:
        return account_public(conn, account_id)


@router.post(
    "/v1/me/password",
    status_code=204,
    summary="Change one's own password",
    responses=refusals("unknown_account", "wrong_password", "password_too_short"),
)
def post_my_password(body: PasswordChange, principal: CurrentAccount, engine: EngineDep) -> Response:
    """Change the password; the old one is required. Every session of the account ends: sign in again."""
    account_id = _own_account(principal)
    with engine.begin() as conn:
        change_password(conn, account_id, body.old_password, body.new_password, actor=principal.actor)
    return Response(status_code=204)


@router.post(
    "/v1/accounts",
    response_model=AccountPublic,
    status_code=201,
    summary="Create an account",
    responses=refusals("not_allowed", "bad_login", "password_too_short", "unknown_person", "login_taken"),
)
def post_account(body: AccountCreate, principal: CurrentAccount, engine: EngineDep) -> AccountPublic:
    """A new account. A school's administrator creates accounts of their own school only."""
    if not principal.system and (body.school_id is None or not principal.has(Role.SCHOOL_ADMIN, body.school_id)):
        raise DomainError("not_allowed")
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


@router.post(
    "/v1/accounts/{account_id}/roles",
    response_model=AccountPublic,
    summary="Grant or revoke a role",
    responses=refusals("not_allowed", "unknown_account", "bad_scope"),
)
def post_role(account_id: UUID, body: RoleChange, principal: CurrentAccount, engine: EngineDep) -> AccountPublic:
    """Grant (or revoke, `granted: false`) a role; every change is kept as history and audited.

    A school's administrator may grant school roles within their school, to accounts of that school.
    """
    with engine.begin() as conn:
        target = get_account(conn, account_id)
        if target is None:
            raise DomainError("unknown_account")
        if not principal.system and not (
            body.role in SCHOOL_ROLES
            and body.scope is not None
            and body.scope == target.school_id
            and principal.has(Role.SCHOOL_ADMIN, body.scope)
        ):
            raise DomainError("not_allowed")
        change = grant_role if body.granted else revoke_role
        change(conn, account_id, body.role, body.scope, actor=principal.actor)
        return account_public(conn, account_id)


@router.get(
    "/v1/schools/{school_id}/sign-in-failures",
    response_model=list[SignInFailure],
    summary="Failed sign-ins of a school's accounts",
)
def get_sign_in_failures(
    school_id: SchoolPath,
    _: SchoolAdmin,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[SignInFailure]:
    """Failed attempts on logins of this school's accounts, newest first."""
    with engine.connect() as conn:
        rows = failed_sign_ins(conn, school_id, limit=limit)
    return [SignInFailure(login=r["login"], at=r["at"], reason=r["reason"], ip=r["ip"]) for r in rows]
