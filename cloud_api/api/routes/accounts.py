"""Sign-in, one's own account, and accounts and roles managed by a school's administrator.

POST /v1/auth/sign-in                        a login and password → a session token
POST /v1/auth/sign-out                       ends the session of the bearer token
GET  /v1/me                                  the signed-in account and its roles in force
POST /v1/me/password                         change one's own password (the old one required)
POST /v1/accounts                            a new account (school_admin of its school, or the admin token)
POST /v1/accounts/{account_id}/roles         grant or revoke a role (likewise)
GET  /v1/schools/{school_id}/sign-in-failures  the failed sign-ins of a school's accounts (school_admin)
GET  /v1/sign-in-failures                    every failed sign-in (deployment_admin)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection, Engine

from cloud_api.api.deps import (
    BearerToken,
    CurrentAccount,
    EngineDep,
    HashSlotsDep,
    SchoolAdmin,
    SchoolPath,
    client_ip,
)
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
    LOCK_FOR,
    SCHOOL_ROLES,
    Principal,
    Role,
    SignInResult,
    change_password,
    create_account,
    failed_sign_ins,
    get_account,
    grant_role,
    revoke_role,
    roles_in_force,
    sign_in,
)
from cloud_api.services.sessions import end_session

__all__ = ["refuse_unless_signed_in", "router"]

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
    summary="Sign in with a login and password (and a code, where the account has a second factor)",
    responses=refusals(
        "sign_in_failed", "second_factor_required", "second_factor_failed", "login_locked", "too_many_attempts", "busy"
    ),
)
async def post_sign_in(body: SignIn, request: Request, engine: EngineDep, slots: HashSlotsDep) -> SessionPublic:
    """A session token for `Authorization: Bearer <token>`.

    Staff (and anyone who turned it on) give a second factor too: without `code` the answer is 401
    `second_factor_required`; ask for the code and send the sign-in again with it. A staff member
    who has none yet gets a session at stage `enrol`, good only to enrol one.

    Every attempt is recorded. After 5 failures of a login from one address within 15 minutes (a
    wrong code counts as one), that login is locked for 15 minutes from that address only
    (`login_locked`); an address with 30 failures over any logins within 15 minutes waits until they
    age out (`too_many_attempts`). Both answer 429 with `Retry-After`.
    """
    agent = request.headers.get("user-agent")
    result, account = await slots.run(_sign_in, engine, body.login, body.password, body.code, client_ip(request), agent)
    if result.reason == "second_factor_required":
        raise DomainError("second_factor_required")
    refuse_unless_signed_in(result)
    assert account is not None and result.token is not None and result.expires_at is not None
    stage = "enrol" if result.stage == "enrol" else "full"
    return SessionPublic(token=result.token, expires_at=result.expires_at, stage=stage, account=account)


def _sign_in(
    engine: Engine, login: str, password: str, code: str | None, ip: str | None, agent: str | None
) -> tuple[SignInResult, AccountPublic | None]:
    # The attempt is committed whether or not it succeeds: a failure must stay on record.
    with engine.begin() as conn:
        result = sign_in(conn, login, password, ip=ip, code=code, user_agent=agent)
        opened = result.token is not None and result.account_id is not None and result.stage in ("full", "enrol")
        account = account_public(conn, result.account_id) if opened and result.account_id else None
    return result, account


def refuse_unless_signed_in(result: SignInResult) -> None:
    """The refusal of a sign-in that opened no session: a lock with when it ends, else one answer for all."""
    if result.until is not None:
        wait = max(1, math.ceil((result.until - datetime.now(UTC)).total_seconds()))
        code = "login_locked" if result.reason == "locked" else "too_many_attempts"
        raise DomainError(code, retry_after_s=wait, minutes=math.ceil(wait / 60))
    if result.reason == "bad_code":
        raise DomainError("second_factor_failed")
    if result.token is None:
        # One answer for an unknown login and a wrong password: nobody learns which logins exist.
        raise DomainError("sign_in_failed")


@router.post("/v1/auth/sign-out", status_code=204, summary="End this session")
def post_sign_out(_: CurrentAccount, token: BearerToken, engine: EngineDep) -> Response:
    """Revoke the bearer token's session; a session that has already ended is ``sign_in_required``."""
    with engine.begin() as conn:
        end_session(conn, token, datetime.now(UTC))
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
    responses=refusals(
        "unknown_account",
        "wrong_password",
        "login_locked",
        "too_many_attempts",
        "password_too_short",
        "password_too_long",
        "password_contains_login",
        "password_too_common",
        "busy",
    ),
)
async def post_my_password(
    body: PasswordChange, request: Request, principal: CurrentAccount, engine: EngineDep, slots: HashSlotsDep
) -> Response:
    """Change the password; the old one is required, and a wrong one counts as a failed sign-in.

    Every session of the account ends: sign in again.
    """
    account_id = _own_account(principal)
    reason = await slots.run(
        _change_password, engine, account_id, body.old_password, body.new_password, principal.actor, client_ip(request)
    )
    if reason == "locked":
        raise DomainError("login_locked", retry_after_s=int(LOCK_FOR.total_seconds()), minutes=15)
    if reason != "ok":
        raise DomainError("wrong_password")
    return Response(status_code=204)


def _change_password(engine: Engine, account_id: UUID, old: str, new: str, actor: str, ip: str | None) -> str:
    # A refused new password rolls back; a wrong old one is committed, as the failed attempt it is.
    with engine.begin() as conn:
        return change_password(conn, account_id, old, new, actor=actor, ip=ip)


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


@router.get(
    "/v1/sign-in-failures",
    response_model=list[SignInFailure],
    summary="Every failed sign-in of the deployment",
    responses=refusals("not_allowed"),
)
def get_all_sign_in_failures(
    principal: CurrentAccount,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[SignInFailure]:
    """Failed attempts on every login, known or not (regions', the ministry's, the deployment's too), newest first.

    For the deployment's administrators (and the admin token).
    """
    if not principal.has(Role.DEPLOYMENT_ADMIN, None):
        raise DomainError("not_allowed")
    with engine.connect() as conn:
        rows = failed_sign_ins(conn, None, limit=limit)
    return [SignInFailure(login=r["login"], at=r["at"], reason=r["reason"], ip=r["ip"]) for r in rows]
