"""Accounts managed by whoever may grant their roles: a school's administrator for the school's, the
deployment's administrator for every one (Order No. 456 §5).

GET    /v1/schools/{school_id}/accounts          the school's accounts (?q=, ?role=, ?state=active|disabled|all)
GET    /v1/accounts                              every account of the deployment (deployment_admin)
GET    /v1/accounts/{account_id}/role-history    every grant and revocation of its roles, oldest first
PATCH  /v1/accounts/{account_id}                 its shown name and its e-mail for reset codes
POST   /v1/accounts/{account_id}/disable         it signs in no more (its sessions end); …/enable undoes it
DELETE /v1/accounts/{account_id}                 its personal data removed, its login freed; the journal stays
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from cloud_api.api.deps import CurrentAccount, EngineDep, SchoolAdmin, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.accounts import AccountEdit, AccountListed, GrantHistory, GrantPublic
from cloud_api.core.errors import DomainError
from cloud_api.services.account_lifecycle import (
    AccountState,
    Listed,
    delete_account,
    edit_account,
    list_accounts,
    may_manage,
    set_active,
)
from cloud_api.services.accounts import Role, get_account, role_history

__all__ = ["router"]

router = APIRouter(tags=["accounts"])

Search = Annotated[str | None, Query(max_length=100, description="A part of the login or the name.")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def _public(listed: Listed) -> AccountListed:
    return AccountListed(
        id=listed.id,
        login=listed.login,
        display_name=listed.display_name,
        email=listed.email,
        school_id=listed.school_id,
        person_id=listed.person_id,
        active=listed.active,
        created_at=listed.created_at,
        roles=[GrantPublic(role=g.role, scope=g.scope) for g in listed.roles],
        second_factor=listed.second_factor,
    )


@router.get("/v1/schools/{school_id}/accounts", response_model=list[AccountListed], summary="A school's accounts")
def school_accounts(
    school_id: SchoolPath,
    _: SchoolAdmin,
    engine: EngineDep,
    q: Search = None,
    role: Role | None = None,
    state: AccountState = "active",
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[AccountListed]:
    """The school's accounts by login, with their roles in force; deleted ones are not listed."""
    with engine.connect() as conn:
        found = list_accounts(conn, school_id, query=q, role=role, state=state, limit=limit, offset=offset)
    return [_public(a) for a in found]


@router.get(
    "/v1/accounts",
    response_model=list[AccountListed],
    summary="Every account of the deployment",
    responses=refusals("not_allowed"),
)
def all_accounts(
    principal: CurrentAccount,
    engine: EngineDep,
    q: Search = None,
    role: Role | None = None,
    state: AccountState = "active",
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[AccountListed]:
    """For the deployment's administrators: regions', the ministry's and every school's accounts."""
    if not principal.has(Role.DEPLOYMENT_ADMIN, None):
        raise DomainError("not_allowed")
    with engine.connect() as conn:
        found = list_accounts(conn, None, query=q, role=role, state=state, limit=limit, offset=offset)
    return [_public(a) for a in found]


@router.get(
    "/v1/accounts/{account_id}/role-history",
    response_model=list[GrantHistory],
    summary="The history of an account's roles",
    responses=refusals("not_allowed", "unknown_account"),
)
def account_role_history(account_id: UUID, principal: CurrentAccount, engine: EngineDep) -> list[GrantHistory]:
    """Every grant and revocation, oldest first, with who did it: for whoever may grant its roles."""
    with engine.connect() as conn:
        target = get_account(conn, account_id)
        if target is None:
            raise DomainError("unknown_account")
        if not may_manage(conn, principal, target):
            raise DomainError("not_allowed")
        rows = role_history(conn, account_id)
    return [GrantHistory(role=r["role"], scope=r["scope"], granted=r["granted"], by=r["by"], at=r["at"]) for r in rows]


@router.patch(
    "/v1/accounts/{account_id}",
    status_code=204,
    summary="Change an account's name or e-mail",
    responses=refusals("not_allowed", "unknown_account", "bad_email"),
)
def patch_account(account_id: UUID, body: AccountEdit, principal: CurrentAccount, engine: EngineDep) -> Response:
    """Journalled with the fields before and after."""
    with engine.begin() as conn:
        edit_account(conn, principal, account_id, datetime.now(UTC), display_name=body.display_name, email=body.email)
    return Response(status_code=204)


def _set_active(account_id: UUID, active: bool, principal: CurrentAccount, engine: EngineDep) -> Response:
    with engine.begin() as conn:
        set_active(conn, principal, account_id, active, datetime.now(UTC))
    return Response(status_code=204)


@router.post(
    "/v1/accounts/{account_id}/disable",
    status_code=204,
    summary="Disable an account",
    responses=refusals("not_allowed", "unknown_account", "not_your_own_account"),
)
def disable_account(account_id: UUID, principal: CurrentAccount, engine: EngineDep) -> Response:
    """It signs in no more and its sessions end; everything else is kept for enabling it again."""
    return _set_active(account_id, False, principal, engine)


@router.post(
    "/v1/accounts/{account_id}/enable",
    status_code=204,
    summary="Enable a disabled account",
    responses=refusals("not_allowed", "unknown_account", "not_your_own_account"),
)
def enable_account(account_id: UUID, principal: CurrentAccount, engine: EngineDep) -> Response:
    """It signs in again with its password (and second factor)."""
    return _set_active(account_id, True, principal, engine)


@router.delete(
    "/v1/accounts/{account_id}",
    status_code=204,
    summary="Delete an account",
    responses=refusals("not_allowed", "unknown_account", "not_your_own_account"),
)
def remove_account(account_id: UUID, principal: CurrentAccount, engine: EngineDep) -> Response:
    """Its login, name, e-mail, password and second factors are removed and its roles revoked; the journal stays."""
    with engine.begin() as conn:
        delete_account(conn, principal, account_id, datetime.now(UTC))
    return Response(status_code=204)
