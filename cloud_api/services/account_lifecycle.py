"""Accounts over their life (Order No. 456 §5): listed, edited, disabled, enabled again and deleted. The caller
owns the transaction.

Who may do it: the deployment's administrator with any account, and a school's administrator with the
accounts of their school (:func:`may_manage`). Nobody disables or deletes their own account: a school
must not lose its last administrator by a slip.

Every change is journalled under the account's school. Disabling ends the account's sessions and
keeps everything else: enabling gives it all back. Deleting removes the personal data (the login,
the name and e-mail, the password, the second factors, the link to a people row) and frees the login;
the row stays, emptied, so that the audit trail still has the account it names, and its role grants
are revoked with their history kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Connection, delete, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import account_logins, accounts, external_identities, role_grants
from cloud_api.services.accounts import (
    GLOBAL_SCOPE,
    SCHOOL_ROLES,
    Account,
    Grant,
    Principal,
    Role,
    get_account,
    grants_of,
    revoke_role,
    roles_in_force,
)
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.second_factor import has_second_factor, remove_second_factors
from cloud_api.services.sessions import end_sessions

__all__ = [
    "AccountState",
    "Listed",
    "authority_accounts",
    "delete_account",
    "edit_account",
    "list_accounts",
    "may_manage",
    "set_active",
]

AccountState = Literal["active", "disabled", "all"]


@dataclass(frozen=True)
class Listed:
    """An account as a list shows it: who, their roles in force, whether it can sign in."""

    id: UUID
    login: str
    display_name: str | None
    email: str | None
    school_id: str | None
    person_id: UUID | None
    active: bool
    created_at: datetime
    roles: list[Grant]
    second_factor: bool


def may_manage(conn: Connection, principal: Principal, target: Account) -> bool:
    """Whether ``principal`` may reset, edit, disable or delete ``target``.

    A school's administrator manages only accounts whose every role is a school role of that school:
    an account of the school that also holds a region's, the ministry's, the deployment's or another
    school's role is beyond them (else a reset code would hand them those roles).
    """
    if principal.has(Role.DEPLOYMENT_ADMIN, None):
        return True
    school = target.school_id
    if school is None or not principal.has(Role.SCHOOL_ADMIN, school):
        return False
    return all(g.role in SCHOOL_ROLES and g.scope == school for g in roles_in_force(conn, target.id))


def list_accounts(
    conn: Connection,
    school_id: str | None,
    *,
    query: str | None = None,
    role: Role | None = None,
    state: AccountState = "active",
    limit: int = 50,
    offset: int = 0,
    second_factors: bool = True,
    among: Sequence[UUID] | None = None,
) -> list[Listed]:
    """The accounts of a school (or, with ``school_id`` None, of the deployment), deleted ones left out.

    ``among`` keeps only those accounts (by id).

    ``query`` finds a part of the login or the name (any case); ``role`` keeps the accounts holding
    it. Sorted by login. ``second_factors=False`` leaves ``second_factor`` False, unread (a query an
    account: a caller that shows a page of a long list reads it for that page only).
    """
    found = select(accounts).where(accounts.c.deleted_at.is_(None))
    if among is not None:
        found = found.where(accounts.c.id.in_(list(among)))
    if school_id is not None:
        found = found.where(accounts.c.school_id == school_id)
    if state != "all":
        found = found.where(accounts.c.active == (state == "active"))
    if query:
        pattern = f"%{query.strip().lower()}%"
        found = found.where(accounts.c.login.ilike(pattern) | accounts.c.display_name.ilike(pattern))
    rows = conn.execute(found.order_by(accounts.c.login)).all()
    grants = grants_of(conn, [r.id for r in rows])
    listed = [
        Listed(
            r.id,
            r.login,
            r.display_name,
            r.email,
            r.school_id,
            r.person_id,
            bool(r.active),
            r.created_at,
            sorted(grants.get(r.id, ()), key=lambda g: (g.role.value, g.scope or "")),
            False,
        )
        for r in rows
    ]
    if role is not None:
        listed = [a for a in listed if any(g.role is role for g in a.roles)]
    page = listed[offset : offset + limit]
    return [_with_factor(conn, a) for a in page] if second_factors else page


AUTHORITY_ROLES = (Role.REGION, Role.MINISTRY)


def authority_accounts(conn: Connection) -> list[Listed]:
    """The accounts of the regions' authorities and of the ministry (active or not), by login.

    The database picks the accounts that were ever granted a region's or the ministry's role, so that
    the deployment's page reads those few, not every account of every school; of them, those whose
    grant is still in force are kept.
    """
    ever = (
        conn.execute(
            select(role_grants.c.account_id)
            .where(role_grants.c.role.in_([r.value for r in AUTHORITY_ROLES]))
            .distinct()
        )
        .scalars()
        .all()
    )
    if not ever:
        return []
    listed = list_accounts(conn, None, state="all", limit=len(ever), second_factors=False, among=ever)
    return [a for a in listed if any(g.role in AUTHORITY_ROLES for g in a.roles)]


def _with_factor(conn: Connection, listed: Listed) -> Listed:
    return Listed(**{**listed.__dict__, "second_factor": has_second_factor(conn, listed.id)})


def _target(conn: Connection, principal: Principal, account_id: UUID, *, not_self: bool = False) -> Account:
    target = get_account(conn, account_id)
    if target is None or _deleted(conn, account_id):
        raise DomainError("unknown_account")
    if not may_manage(conn, principal, target):
        raise DomainError("not_allowed")
    if not_self and principal.account is not None and principal.account.id == account_id:
        raise DomainError("not_your_own_account")
    return target


def _deleted(conn: Connection, account_id: UUID) -> bool:
    return conn.execute(select(accounts.c.deleted_at).where(accounts.c.id == account_id)).scalar() is not None


def _journal(conn: Connection, target: Account, actor: str, now: datetime, entry: AuditEntry) -> None:
    write_audit(conn, target.school_id or GLOBAL_SCOPE, actor, now, [entry])


def edit_account(
    conn: Connection,
    principal: Principal,
    account_id: UUID,
    now: datetime,
    *,
    display_name: str | None = None,
    email: str | None = None,
) -> None:
    """Change an account's shown name and its e-mail for reset codes (None leaves a field as it is)."""
    target = _target(conn, principal, account_id)
    row = conn.execute(select(accounts.c.display_name, accounts.c.email).where(accounts.c.id == account_id)).one()
    changes: dict[str, Any] = {}
    if display_name is not None and display_name.strip() != (row.display_name or ""):
        changes["display_name"] = display_name.strip() or None
    if email is not None and email.strip().lower() != (row.email or ""):
        cleaned = email.strip().lower()
        if cleaned and ("@" not in cleaned or " " in cleaned):
            raise DomainError("bad_email")
        changes["email"] = cleaned or None
    if not changes:
        return
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(**changes))
    before = {k: getattr(row, k) for k in changes}
    _journal(conn, target, principal.actor, now, AuditEntry("update", "account", str(account_id), before, changes))


def set_active(conn: Connection, principal: Principal, account_id: UUID, active: bool, now: datetime) -> bool:
    """Disable (every session ends) or enable an account; False when it already was so (nothing written)."""
    target = _target(conn, principal, account_id, not_self=True)
    if target.active == active:
        return False
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(active=active))
    if not active:
        end_sessions(conn, account_id, now)
    entry = AuditEntry("update", "account", str(account_id), {"active": target.active}, {"active": active})
    _journal(conn, target, principal.actor, now, entry)
    return True


def delete_account(conn: Connection, principal: Principal, account_id: UUID, now: datetime) -> None:
    """Remove an account's personal data and free its login; the emptied row and the journal stay."""
    target = _target(conn, principal, account_id, not_self=True)
    for grant in roles_in_force(conn, account_id):
        revoke_role(conn, account_id, grant.role, grant.scope, actor=principal.actor)
    remove_second_factors(conn, account_id, now, actor=principal.actor, school_id=target.school_id)
    end_sessions(conn, account_id, now)
    conn.execute(delete(account_logins).where(account_logins.c.login == target.login))
    conn.execute(delete(external_identities).where(external_identities.c.account_id == account_id))
    conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            login=f"deleted:{account_id}",
            display_name=None,
            email=None,
            password_hash=None,
            person_id=None,
            active=False,
            deleted_at=now,
        )
    )
    entry = AuditEntry("delete", "account", str(account_id), {"login": target.login}, None)
    _journal(conn, target, principal.actor, now, entry)
