"""Accounts, passwords, sign-in, sessions and roles (Order No. 456 §5). The caller owns the transaction.

An account signs in with a login (an e-mail or a phone number) and a password kept only as an
argon2id hash. Every sign-in attempt is recorded, good or bad; after ``MAX_FAILURES`` failures
within ``FAILURE_WINDOW`` the login is locked for ``LOCK_FOR``, whether or not it names an account
(so a lock tells nobody that a login exists). A successful sign-in gives a random bearer token of
which only the SHA-256 is stored.

Roles are granted per scope (a school, a region, or none for the ministry) in an append-only
history: a revocation is a new row, so who had which access when stays readable. Creating an
account, granting or revoking a role and changing a password are written to the audit journal
(never a hash). A refusal is a :class:`~cloud_api.core.errors.DomainError` with a stable code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

import uuid_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import account_logins, accounts, people, role_grants, sessions, sign_in_attempts
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "FAILURE_WINDOW",
    "GLOBAL_SCOPE",
    "LOCK_FOR",
    "MAX_FAILURES",
    "MIN_PASSWORD_CHARS",
    "SCHOOL_ROLES",
    "SYSTEM",
    "Account",
    "Grant",
    "Principal",
    "Role",
    "SignInResult",
    "change_password",
    "create_account",
    "create_school_admin",
    "failed_sign_ins",
    "get_account",
    "grant_role",
    "logins_of",
    "normalise_login",
    "revoke_role",
    "role_history",
    "roles_in_force",
    "session_principal",
    "set_password",
    "sign_in",
    "sign_out",
    "token_hash",
]

MIN_PASSWORD_CHARS = 10
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
SYSTEM = "system"  # the actor of the admin token
# The audit journal is kept per school; an account of no school (the ministry, a region) is
# journalled under this scope.
GLOBAL_SCOPE = "*"

_HASHER = PasswordHasher()
# Verified against when the login names no account, so that an unknown login takes as long as a
# wrong password and the answer time tells nothing.
_DUMMY_HASH = _HASHER.hash("no account has this password")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_JUNK = re.compile(r"[\s()\-]")
_PHONE = re.compile(r"^\+?\d{10,15}$")


class Role(StrEnum):
    """What an account may do, and the kind of scope it is granted in."""

    MINISTRY = "ministry"  # scope: none; aggregates only
    REGION = "region"  # scope: a region id; aggregates of the region
    SCHOOL_ADMIN = "school_admin"  # scope: a school id
    CANTEEN_STAFF = "canteen_staff"  # scope: a school id
    GUARDIAN = "guardian"  # scope: a school id; their own children only
    STUDENT = "student"  # scope: a school id


# Roles a school's administrator may grant, always within their own school.
SCHOOL_ROLES = frozenset({Role.SCHOOL_ADMIN, Role.CANTEEN_STAFF, Role.GUARDIAN, Role.STUDENT})


class Grant(NamedTuple):
    """A role in a scope (a school or region id, or None for the ministry)."""

    role: Role
    scope: str | None


@dataclass(frozen=True)
class Account:
    """An account as the API may show it: never its password hash."""

    id: UUID
    login: str
    person_id: UUID | None
    school_id: str | None
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in account with its roles in force, or the system (the admin token)."""

    account: Account | None
    grants: frozenset[Grant]

    @property
    def system(self) -> bool:
        """True for the admin token, which may do everything."""
        return self.account is None

    @property
    def actor(self) -> str:
        """How the audit journal names this principal."""
        return SYSTEM if self.account is None else f"account:{self.account.id}"

    def has(self, role: Role, scope: str | None) -> bool:
        """Whether this principal holds ``role`` in ``scope`` (the system holds every role)."""
        return self.system or Grant(role, scope) in self.grants


@dataclass(frozen=True)
class SignInResult:
    """What a sign-in attempt gave: a token on success, else the reason (already recorded)."""

    reason: str
    account_id: UUID | None = None
    token: str | None = None
    expires_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the attempt signed in."""
        return self.token is not None


def normalise_login(login: str) -> str:
    """An e-mail in lower case, or a phone number as ``+7…`` digits; ``DomainError("bad_login")`` else."""
    text = login.strip()
    if _EMAIL.match(text):
        return text.lower()
    phone = _PHONE_JUNK.sub("", text)
    if _PHONE.match(phone):
        # Kazakhstan's trunk prefix 8 is the country code +7 (as the roster import reads phones).
        if len(phone) == 11 and phone.startswith("8"):
            return "+7" + phone[1:]
        return phone if phone.startswith("+") else "+" + phone
    raise DomainError("bad_login")


def token_hash(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise DomainError("password_too_short")


def _audit_scope(school_id: str | None) -> str:
    return school_id or GLOBAL_SCOPE


def _account(row: Any) -> Account:
    return Account(row.id, row.login, row.person_id, row.school_id, bool(row.active), row.created_at)


def get_account(conn: Connection, account_id: UUID) -> Account | None:
    """The account ``account_id``, or None."""
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return None if row is None else _account(row)


def create_account(
    conn: Connection,
    login: str,
    *,
    actor: str,
    password: str | None = None,
    person_id: UUID | None = None,
    school_id: str | None = None,
) -> Account:
    """A new active account; audited (without the password). Refuses a taken login or an unknown person."""
    login = normalise_login(login)
    if password is not None:
        _check_password(password)
    if person_id is not None:
        if school_id is None:
            raise DomainError("unknown_person")
        known = conn.execute(
            select(people.c.id).where(people.c.school_id == school_id, people.c.id == person_id)
        ).first()
        if known is None:
            raise DomainError("unknown_person")
    now = datetime.now(UTC)
    account = Account(UUID(str(uuid_utils.uuid7())), login, person_id, school_id, True, now)
    # The login is taken by the first to write it: a concurrent sign-up of the same login finds the
    # row and is refused, without an exception that would spoil the caller's transaction.
    claimed = conn.execute(
        dialect_insert(conn, account_logins)
        .values(login=login, account_id=account.id)
        .on_conflict_do_nothing(index_elements=["login"])
        .returning(account_logins.c.login)
    ).first()
    if claimed is None:
        raise DomainError("login_taken")
    conn.execute(
        insert(accounts).values(
            id=account.id,
            login=login,
            person_id=person_id,
            school_id=school_id,
            active=True,
            created_at=now,
            password_hash=None if password is None else _HASHER.hash(password),
        )
    )
    after = {
        "login": login,
        "person_id": str(person_id) if person_id else None,
        "school_id": school_id,
        "active": True,
        "password_set": password is not None,
    }
    entry = AuditEntry("create", "account", str(account.id), None, after)
    write_audit(conn, _audit_scope(school_id), actor, now, [entry])
    return account


def create_school_admin(conn: Connection, login: str, password: str, school_id: str, *, actor: str) -> Account:
    """A new account with a password and school_admin of ``school_id``: the first sign-in of a deployment."""
    if not school_id.strip():
        raise DomainError("bad_scope")
    account = create_account(conn, login, actor=actor, password=password, school_id=school_id)
    grant_role(conn, account.id, Role.SCHOOL_ADMIN, school_id, actor=actor)
    return account


def logins_of(conn: Connection, account_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The login of each of ``account_ids`` that exists (to show who an ``account:<id>`` actor is)."""
    wanted = list(set(account_ids))
    if not wanted:
        return {}
    return dict(conn.execute(select(accounts.c.id, accounts.c.login).where(accounts.c.id.in_(wanted))).all())


def set_password(conn: Connection, account_id: UUID, new_password: str, *, actor: str) -> None:
    """Set an account's password without the old one (an administrator's reset); audited, no hash."""
    _check_password(new_password)
    account = get_account(conn, account_id)
    if account is None:
        raise DomainError("unknown_account")
    now = datetime.now(UTC)
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(password_hash=_HASHER.hash(new_password)))
    # A new password ends every session the old one opened.
    conn.execute(
        update(sessions)
        .where(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    entry = AuditEntry("update", "account", str(account_id), None, {"password": "set"})
    write_audit(conn, _audit_scope(account.school_id), actor, now, [entry])


def change_password(conn: Connection, account_id: UUID, old_password: str, new_password: str, *, actor: str) -> None:
    """Change one's own password: ``DomainError("wrong_password")`` unless ``old_password`` is right."""
    stored = conn.execute(select(accounts.c.password_hash).where(accounts.c.id == account_id)).scalar_one_or_none()
    if stored is None or not _verify(stored, old_password):
        raise DomainError("wrong_password")
    set_password(conn, account_id, new_password, actor=actor)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# -- signing in ------------------------------------------------------------------------------------


def _locked_until(conn: Connection, login: str) -> datetime | None:
    """When the lock on ``login`` ends, if ``MAX_FAILURES`` failures fell within ``FAILURE_WINDOW``.

    Only failures since the last success count, and refusals of a locked login do not: otherwise
    an attacker could keep a family locked out for ever by trying once every few minutes.
    """
    last_ok = conn.execute(
        select(sign_in_attempts.c.at)
        .where(sign_in_attempts.c.login == login, sign_in_attempts.c.success)
        .order_by(sign_in_attempts.c.at.desc())
        .limit(1)
    ).scalar()
    failures = select(sign_in_attempts.c.at).where(
        sign_in_attempts.c.login == login,
        sign_in_attempts.c.success.is_(False),
        sign_in_attempts.c.reason != "locked",
    )
    if last_ok is not None:
        failures = failures.where(sign_in_attempts.c.at > last_ok)
    recent = [r.at for r in conn.execute(failures.order_by(sign_in_attempts.c.at.desc()).limit(MAX_FAILURES))]
    if len(recent) < MAX_FAILURES or recent[0] - recent[-1] > FAILURE_WINDOW:
        return None
    return recent[0] + LOCK_FOR  # type: ignore[no-any-return]


def sign_in(
    conn: Connection,
    login: str,
    password: str,
    *,
    ip: str | None = None,
    now: datetime | None = None,
    ttl: timedelta = SESSION_TTL,
) -> SignInResult:
    """Try to sign in; the attempt is recorded whatever its outcome (the caller must commit either way).

    Reasons: ``ok``, ``locked``, ``unknown_login``, ``inactive``, ``no_password``, ``bad_password``.
    """
    at = _now(now)
    try:
        login = normalise_login(login)
    except DomainError:
        login = login.strip()[:254]  # recorded as typed: a failed attempt is still an attempt
    row = _account_row_by_login(conn, login)
    account = None if row is None else _account(row)
    locked_until = _locked_until(conn, login)
    if locked_until is not None and at < locked_until:
        reason = "locked"
    elif row is None:
        _verify(_DUMMY_HASH, password)
        reason = "unknown_login"
    elif not _verify(row.password_hash or _DUMMY_HASH, password):
        reason = "no_password" if row.password_hash is None else "bad_password"
    elif not row.active:
        reason = "inactive"
    else:
        reason = "ok"
    conn.execute(
        insert(sign_in_attempts).values(
            login=login,
            account_id=account.id if account else None,
            school_id=account.school_id if account else None,
            at=at,
            success=reason == "ok",
            reason=reason,
            ip=ip,
        )
    )
    if account is None or reason != "ok":
        return SignInResult(reason, account.id if account else None)
    token = secrets.token_urlsafe(32)
    expires_at = at + ttl
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token), account_id=account.id, created_at=at, expires_at=expires_at
        )
    )
    if _HASHER.check_needs_rehash(row.password_hash):  # type: ignore[union-attr]
        conn.execute(update(accounts).where(accounts.c.id == account.id).values(password_hash=_HASHER.hash(password)))
    return SignInResult(reason, account.id, token, expires_at)


def _account_row_by_login(conn: Connection, login: str) -> Row[Any] | None:
    # Two lookups, each by its table's own key: a join of the two would ask every shard on Citus.
    account_id = conn.execute(
        select(account_logins.c.account_id).where(account_logins.c.login == login)
    ).scalar_one_or_none()
    if account_id is None:
        return None
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def sign_out(conn: Connection, token: str, *, now: datetime | None = None) -> None:
    """End the session of ``token`` (nothing happens for an unknown or ended one)."""
    conn.execute(
        update(sessions)
        .where(sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )


def session_principal(conn: Connection, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a live session token (not revoked, not expired, account active), or None."""
    at = _now(now)
    # Two lookups, each by its table's own key (sessions go by the token's hash, accounts by id).
    account_id = conn.execute(
        select(sessions.c.account_id).where(
            sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None), sessions.c.expires_at > at
        )
    ).scalar_one_or_none()
    if account_id is None:
        return None
    row = conn.execute(select(accounts).where(accounts.c.id == account_id, accounts.c.active)).first()
    if row is None:
        return None
    return Principal(_account(row), roles_in_force(conn, row.id))


def failed_sign_ins(conn: Connection, school_id: str | None, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Failed attempts, newest first: of one school's accounts, or (``None``) of every login."""
    query = select(sign_in_attempts).where(sign_in_attempts.c.success.is_(False))
    if school_id is not None:
        query = query.where(sign_in_attempts.c.school_id == school_id)
    query = query.order_by(sign_in_attempts.c.at.desc(), sign_in_attempts.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


# -- roles -----------------------------------------------------------------------------------------


def _check_scope(role: Role, scope: str | None) -> None:
    if (role is Role.MINISTRY) != (scope is None):
        raise DomainError("bad_scope")


def roles_in_force(conn: Connection, account_id: UUID) -> frozenset[Grant]:
    """The grants whose newest row says granted."""
    in_force: dict[Grant, bool] = {}
    rows = conn.execute(
        select(role_grants.c.role, role_grants.c.scope, role_grants.c.granted)
        .where(role_grants.c.account_id == account_id)
        .order_by(role_grants.c.id)
    )
    for role, scope, granted in rows:
        in_force[Grant(Role(role), scope)] = bool(granted)
    return frozenset(g for g, on in in_force.items() if on)


def _set_role(conn: Connection, account_id: UUID, grant: Grant, granted: bool, actor: str) -> bool:
    _check_scope(grant.role, grant.scope)
    account = get_account(conn, account_id)
    if account is None:
        raise DomainError("unknown_account")
    before = grant in roles_in_force(conn, account_id)
    if before == granted:
        return False  # nothing changes: no history row, no journal entry
    now = datetime.now(UTC)
    conn.execute(
        insert(role_grants).values(
            account_id=account_id, role=grant.role.value, scope=grant.scope, granted=granted, by=actor, at=now
        )
    )
    fields = {"role": grant.role.value, "scope": grant.scope}
    entry = AuditEntry(
        "update", "role_grant", str(account_id), {**fields, "granted": before}, {**fields, "granted": granted}
    )
    # Journalled under the school the role is about, where that school's administrator looks.
    school = grant.scope if grant.role in SCHOOL_ROLES else account.school_id
    write_audit(conn, _audit_scope(school), actor, now, [entry])
    return True


def grant_role(conn: Connection, account_id: UUID, role: Role, scope: str | None, *, actor: str) -> bool:
    """Grant ``role`` in ``scope``; False when it was already in force (then nothing is written)."""
    return _set_role(conn, account_id, Grant(role, scope), True, actor)


def revoke_role(conn: Connection, account_id: UUID, role: Role, scope: str | None, *, actor: str) -> bool:
    """Revoke ``role`` in ``scope``; False when it was not in force (then nothing is written)."""
    return _set_role(conn, account_id, Grant(role, scope), False, actor)


def role_history(conn: Connection, account_id: UUID) -> list[dict[str, Any]]:
    """Every grant and revocation of an account, oldest first."""
    rows = conn.execute(select(role_grants).where(role_grants.c.account_id == account_id).order_by(role_grants.c.id))
    return [dict(r._mapping) for r in rows]
