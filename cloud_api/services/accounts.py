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

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, Row, func, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.core.security_events import Kind, Outcome, record_security_event
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import account_logins, accounts, people, role_grants, sign_in_attempts
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.passwords import check_password, hash_password, needs_rehash, verify_password
from cloud_api.services.second_factor import has_second_factor, take_code
from cloud_api.services.sessions import end_session, end_sessions, live_session, open_session

__all__ = [
    "CLIENT_MAX_FAILURES",
    "FAILURE_WINDOW",
    "GLOBAL_SCOPE",
    "LOCK_FOR",
    "MAX_FAILURES",
    "SCHOOL_ROLES",
    "STAFF_ROLES",
    "SYSTEM",
    "Account",
    "Grant",
    "Principal",
    "Role",
    "SignInResult",
    "account_by_login",
    "account_email",
    "accounts_of_people",
    "change_password",
    "client_key",
    "complete_sign_in",
    "create_account",
    "create_school_admin",
    "deployment_admin_with_second_factor",
    "failed_sign_ins",
    "get_account",
    "grant_role",
    "grants_of",
    "is_staff",
    "logins_of",
    "normalise_login",
    "promote",
    "record_admin_token_use",
    "revoke_role",
    "role_history",
    "roles_in_force",
    "second_factor_needed",
    "session_principal",
    "set_password",
    "set_second_factor_wanted",
    "sign_in",
    "signed_in_by_passkey",
    "signed_in_from_outside",
]

MAX_FAILURES = 5  # of one login from one client address
# Of one client address over every login: spraying one password over many logins stops here. A
# school's or a mobile operator's NAT puts many honest families behind one address, hence well above
# what one family mistypes.
CLIENT_MAX_FAILURES = 30
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
SYSTEM = "system"  # the actor of the admin token
# The audit journal is kept per school; an account of no school (the ministry, a region) is
# journalled under this scope.
GLOBAL_SCOPE = "*"

# Verified against when the login names no account, so that an unknown login takes as long as a
# wrong password and the answer time tells nothing.
_DUMMY_HASH = hash_password("no account has this password")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_JUNK = re.compile(r"[\s()\-]")
_PHONE = re.compile(r"^\+?\d{10,15}$")


class Role(StrEnum):
    """What an account may do, and the kind of scope it is granted in."""

    DEPLOYMENT_ADMIN = "deployment_admin"  # scope: none; runs the deployment, sees every failed sign-in
    MINISTRY = "ministry"  # scope: none; aggregates only
    REGION = "region"  # scope: a region id; aggregates of the region
    SCHOOL_ADMIN = "school_admin"  # scope: a school id
    CANTEEN_STAFF = "canteen_staff"  # scope: a school id
    GUARDIAN = "guardian"  # scope: a school id; their own children only
    STUDENT = "student"  # scope: a school id
    SCHOOL_IT = "school_it"  # scope: a school id; the school's IT contact: hears of its gateway's alerts
    REGION_IT = "region_it"  # scope: a region id; hears of the alerts of the region's gateways


# Roles a school's administrator may grant, always within their own school.
SCHOOL_ROLES = frozenset({Role.SCHOOL_ADMIN, Role.CANTEEN_STAFF, Role.SCHOOL_IT, Role.GUARDIAN, Role.STUDENT})
# Roles of the whole deployment, granted with no scope.
UNSCOPED_ROLES = frozenset({Role.DEPLOYMENT_ADMIN, Role.MINISTRY})
# Roles that work with other people's data: a longer password, and (with a second factor) more care.
STAFF_ROLES = frozenset(
    {
        Role.DEPLOYMENT_ADMIN,
        Role.MINISTRY,
        Role.REGION,
        Role.REGION_IT,
        Role.SCHOOL_ADMIN,
        Role.CANTEEN_STAFF,
        Role.SCHOOL_IT,
    }
)


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
    until: datetime | None = None  # when a throttled login (or address) may try again
    stage: str | None = None  # of the session opened: "full", or the step of the sign-in still due

    @property
    def ok(self) -> bool:
        """True when the attempt signed in fully."""
        return self.token is not None and self.stage == "full"


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


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


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
    family = False
    if person_id is not None:
        if school_id is None:
            raise DomainError("unknown_person")
        role = conn.execute(
            select(people.c.role).where(people.c.school_id == school_id, people.c.id == person_id)
        ).scalar_one_or_none()
        if role is None:
            raise DomainError("unknown_person")
        family = role in ("guardian", "student")
    if password is not None:
        # An account of a guardian's or a student's people row is a family's; any other may be given
        # a staff role, so it is held to the staff's length from the start.
        check_password(password, login, staff=not family)
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
            password_hash=None if password is None else hash_password(password),
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


def accounts_of_people(conn: Connection, school_id: str, person_ids: Iterable[UUID]) -> dict[UUID, Account]:
    """The account (not deleted) of each of the school's people that has one."""
    rows = conn.execute(
        select(accounts).where(
            accounts.c.school_id == school_id,
            accounts.c.person_id.in_(list(person_ids)),
            accounts.c.deleted_at.is_(None),
        )
    )
    return {row.person_id: _account(row) for row in rows}


def logins_of(conn: Connection, account_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The login of each of ``account_ids`` that exists (to show who an ``account:<id>`` actor is)."""
    wanted = list(set(account_ids))
    if not wanted:
        return {}
    return dict(conn.execute(select(accounts.c.id, accounts.c.login).where(accounts.c.id.in_(wanted))).all())


def set_password(conn: Connection, account_id: UUID, new_password: str, *, actor: str) -> None:
    """Set an account's password without the old one (an administrator's reset); audited, no hash."""
    account = get_account(conn, account_id)
    if account is None:
        raise DomainError("unknown_account")
    check_password(new_password, account.login, staff=is_staff(conn, account_id))
    now = datetime.now(UTC)
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(password_hash=hash_password(new_password)))
    # A new password ends every session the old one opened.
    end_sessions(conn, account_id, now)
    entry = AuditEntry("update", "account", str(account_id), None, {"password": "set"})
    write_audit(conn, _audit_scope(account.school_id), actor, now, [entry])


def change_password(
    conn: Connection,
    account_id: UUID,
    old_password: str,
    new_password: str,
    *,
    actor: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> str:
    """Change one's own password; the outcome, as :func:`sign_in`'s reasons.

    A wrong old password is a failed sign-in: recorded, and counted towards the lock of the login
    from this address (else a stolen session could guess the password without limit). Returns
    ``ok``, ``bad_password`` or ``locked`` (the caller must commit either way); the new password is
    checked only once the old one is right.
    """
    at = _now(now)
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    if row is None:
        raise DomainError("unknown_account")
    client = client_key(ip)
    if _throttled(conn, row.login, client, at) is not None:
        reason = "locked"
    elif row.password_hash is None or not verify_password(row.password_hash, old_password):
        reason = "bad_password"
    else:
        reason = "ok"
    if reason != "ok":
        _record_attempt(conn, row.login, _account(row), at, reason, client)
        return reason
    set_password(conn, account_id, new_password, actor=actor)
    return reason


def is_staff(conn: Connection, account_id: UUID) -> bool:
    """Whether the account is not only a family's (a guardian's or a student's): staff may be granted any time."""
    grants = roles_in_force(conn, account_id)
    return not grants or any(g.role not in (Role.GUARDIAN, Role.STUDENT) for g in grants)


# -- signing in ------------------------------------------------------------------------------------


class Throttle(NamedTuple):
    """Why attempts are refused for now, and until when."""

    reason: str  # "locked": this login from this address; "client_throttled": this address, any login
    until: datetime


def client_key(ip: str | None) -> str | None:
    """The address attempts are counted by: an IPv4 address, or the /64 an IPv6 client holds as a whole."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _failures(conn: Connection, *where: Any) -> Any:
    # Refusals of a throttled attempt are not failures of a guess: otherwise an attacker could keep a
    # family locked out for ever by trying once every few minutes.
    return select(sign_in_attempts.c.at).where(
        *where, sign_in_attempts.c.success.is_(False), sign_in_attempts.c.reason.not_in(_NOT_A_GUESS)
    )


# A right password whose sign-in is not done yet (a code due, an enrolment) is neither a success (it
# must not wipe the failures of code guessing) nor a failure: it is a step, and no failed sign-in.
_STEPS = ("second_factor_required", "enrol")
_NOT_A_GUESS = ("locked", "client_throttled", *_STEPS)


def _throttled(conn: Connection, login: str, client: str | None, at: datetime) -> Throttle | None:
    """Whether attempts on ``login`` from ``client`` are refused at ``at``, and until when.

    Only the pair is locked (``MAX_FAILURES`` failures of this login from this address within
    ``FAILURE_WINDOW``, since the login's last success): somebody elsewhere who tries a family's
    login five times locks out only themselves. An address with ``CLIENT_MAX_FAILURES`` failures over
    every login within the window is refused for any login until its oldest counted failure ages out.
    """
    last_ok = conn.execute(
        select(func.max(sign_in_attempts.c.at)).where(sign_in_attempts.c.login == login, sign_in_attempts.c.success)
    ).scalar()
    pair = _failures(conn, sign_in_attempts.c.login == login, _same_client(client))
    if last_ok is not None:
        pair = pair.where(sign_in_attempts.c.at > last_ok)
    recent = [r.at for r in conn.execute(pair.order_by(sign_in_attempts.c.at.desc()).limit(MAX_FAILURES))]
    if len(recent) == MAX_FAILURES and recent[0] - recent[-1] <= FAILURE_WINDOW and at < recent[0] + LOCK_FOR:
        return Throttle("locked", recent[0] + LOCK_FOR)
    if client is None:
        return None
    window = _failures(conn, sign_in_attempts.c.client == client, sign_in_attempts.c.at > at - FAILURE_WINDOW)
    counted = [r.at for r in conn.execute(window.order_by(sign_in_attempts.c.at.desc()).limit(CLIENT_MAX_FAILURES))]
    if len(counted) == CLIENT_MAX_FAILURES:
        return Throttle("client_throttled", counted[-1] + FAILURE_WINDOW)
    return None


def _same_client(client: str | None) -> Any:
    return sign_in_attempts.c.client.is_(None) if client is None else sign_in_attempts.c.client == client


def _record_attempt(
    conn: Connection, login: str, account: Account | None, at: datetime, reason: str, client: str | None
) -> None:
    conn.execute(
        insert(sign_in_attempts).values(
            login=login,
            account_id=account.id if account else None,
            school_id=account.school_id if account else None,
            at=at,
            success=reason == "ok",
            reason=reason,
            ip=client,
            client=client,
        )
    )
    if reason == "ok" or reason in _STEPS:
        return
    _security_event_of_failure(conn, login, account, at, reason, client)


def _security_event_of_failure(
    conn: Connection, login: str, account: Account | None, at: datetime, reason: str, client: str | None
) -> None:
    """A failed or refused attempt in the security stream; and the burst, when this failure locked the login
    from this address or throttled the address."""
    actor = f"account:{account.id}" if account else None
    school = account.school_id if account else None
    # A login that is no e-mail or phone may be a password typed into the wrong field: it stays in
    # the database's attempts, never in a stream shipped to a SIEM.
    shown = login if _is_login(login) else None
    throttled = reason in ("locked", "client_throttled")
    record_security_event(
        Kind.SIGN_IN_FAILED,
        Outcome.REFUSED if throttled else Outcome.FAILURE,
        actor=actor,
        school=school,
        target="login",
        details={"reason": reason, "login": shown},
        conn=conn,
        at=at,
    )
    if throttled:
        return
    # The attempt was not throttled (else its reason would say so): a throttle now is this failure's doing.
    throttle = _throttled(conn, login, client, at)
    if throttle is None:
        return
    record_security_event(
        Kind.SIGN_IN_BURST,
        Outcome.REFUSED,
        actor=actor,
        school=school,
        target="login" if throttle.reason == "locked" else "address",
        details={
            "reason": throttle.reason,
            "login": shown,
            "failures": MAX_FAILURES if throttle.reason == "locked" else CLIENT_MAX_FAILURES,
            "window_s": int(FAILURE_WINDOW.total_seconds()),
            "until": throttle.until.astimezone(UTC).isoformat(),
            "client": client,  # what the throttle counts by: the address, or an IPv6 client's /64
        },
        conn=conn,
        at=at,
    )


def _is_login(text: str) -> bool:
    try:
        return normalise_login(text) == text
    except DomainError:
        return False


def sign_in(
    conn: Connection,
    login: str,
    password: str,
    *,
    ip: str | None = None,
    now: datetime | None = None,
    code: str | None = None,
    user_agent: str | None = None,
) -> SignInResult:
    """Try to sign in; the attempt is recorded whatever its outcome (the caller must commit either way).

    Reasons: ``ok``; ``second_factor_required`` (the password was right: a code is due, ``code`` was not
    given, and the result carries a half-done session for the next step); ``enrol`` (a staff member
    without a second factor: the result's session may only enrol one); refusals ``locked`` (this
    login from this address), ``client_throttled`` (this address), ``unknown_login``, ``inactive``,
    ``no_password``, ``bad_password``, ``bad_code``. A throttled attempt hashes nothing: a throttled
    flood costs the server no memory.
    """
    at = _now(now)
    try:
        login = normalise_login(login)
    except DomainError:
        login = login.strip()[:254]  # recorded as typed: a failed attempt is still an attempt
    client = client_key(ip)
    row = _account_row_by_login(conn, login)
    account = None if row is None else _account(row)
    throttle = _throttled(conn, login, client, at)
    method = "password"
    if throttle is not None:
        reason = throttle.reason
    elif row is None:
        verify_password(_DUMMY_HASH, password)
        reason = "unknown_login"
    elif not verify_password(row.password_hash or _DUMMY_HASH, password):
        reason = "no_password" if row.password_hash is None else "bad_password"
    elif not row.active:
        reason = "inactive"
    else:
        reason, method = _second_step(conn, row, code, at)
    _record_attempt(conn, login, account, at, reason, client)
    if account is None or reason not in _OPENS:
        return SignInResult(reason, account.id if account else None, until=throttle.until if throttle else None)
    if needs_rehash(row.password_hash):  # type: ignore[union-attr]
        conn.execute(update(accounts).where(accounts.c.id == account.id).values(password_hash=hash_password(password)))
    return _open(conn, account.id, reason, method, at, ip, user_agent)


# What each outcome of a right password opens: a session, or the step of the sign-in still due.
_OPENS = {"ok": "full", "second_factor_required": "second_factor", "enrol": "enrol"}


def _open(
    conn: Connection, account_id: UUID, reason: str, method: str, at: datetime, ip: str | None, agent: str | None
) -> SignInResult:
    kind = "staff" if is_staff(conn, account_id) else "device"
    opened = open_session(conn, account_id, at, kind=kind, stage=_OPENS[reason], method=method, ip=ip, user_agent=agent)
    return SignInResult(reason, account_id, opened.token, opened.expires_at, stage=opened.stage)


def _second_step(conn: Connection, row: Row[Any], code: str | None, at: datetime) -> tuple[str, str]:
    """After a right password: ``(reason, method)``, the reason one of ``_OPENS`` or ``bad_code``."""
    if not second_factor_needed(conn, row.id):
        return "ok", "password"
    if not has_second_factor(conn, row.id):
        return "enrol", "password"
    if code is None:
        return "second_factor_required", "password"
    taken = take_code(conn, row.id, code, at)
    return ("ok", f"password+{taken}") if taken else ("bad_code", "password")


def signed_in_by_passkey(
    conn: Connection,
    account_id: UUID,
    method: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> SignInResult:
    """The full session of an account whose passkey checked out (alone, or after its password); recorded."""
    at = _now(now)
    account = get_account(conn, account_id)
    if account is None or not account.active:
        return SignInResult("inactive")
    _record_attempt(conn, account.login, account, at, "ok", client_key(ip))
    return _open(conn, account_id, "ok", method, at, ip, user_agent)


def signed_in_from_outside(
    conn: Connection,
    account_id: UUID,
    method: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> SignInResult:
    """An outside provider vouched for the account (single sign-on): it stands for the password only.

    The result is as :func:`sign_in`'s after a right password: ``ok``, ``second_factor_required``
    (a half-done session for the code) or ``enrol``; ``inactive`` for a disabled account. Recorded.
    """
    at = _now(now)
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    if row is None or not row.active:
        return SignInResult("inactive")
    reason, _method = _second_step(conn, row, None, at)
    account = _account(row)
    _record_attempt(conn, account.login, account, at, reason, client_key(ip))
    return _open(conn, account_id, reason, method, at, ip, user_agent)


def second_factor_needed(conn: Connection, account_id: UUID) -> bool:
    """Whether the account signs in with a second factor: staff always; a family's account when it (or, for a
    child under 16, a guardian) turned it on. One that needs it and has none sets it up at sign-in."""
    if is_staff(conn, account_id):
        return True
    wanted = conn.execute(select(accounts.c.second_factor_wanted).where(accounts.c.id == account_id)).scalar()
    return bool(wanted)


def set_second_factor_wanted(
    conn: Connection, account_id: UUID, wanted: bool, now: datetime, *, actor: str, school_id: str | None
) -> None:
    """Turn the second factor of a family's account on or off (journalled); off removes its factors too."""
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(second_factor_wanted=wanted))
    entry = AuditEntry("update", "account", str(account_id), None, {"second_factor_wanted": wanted})
    write_audit(conn, _audit_scope(school_id), actor, now, [entry])


def complete_sign_in(
    conn: Connection,
    token: str,
    code: str,
    *,
    ip: str | None = None,
    now: datetime | None = None,
    user_agent: str | None = None,
) -> SignInResult:
    """The second step of a half-done sign-in: its code. A wrong code is a failed attempt, counted like a password.

    Reasons: ``ok`` (the half-done session ends; the result carries the full one), ``bad_code``,
    ``locked``, ``client_throttled``, ``expired`` (no such half-done sign-in: start again).
    """
    at = _now(now)
    pending = live_session(conn, token, at, stages=("second_factor",))
    if pending is None:
        return SignInResult("expired")
    account = get_account(conn, pending.account_id)
    if account is None or not account.active:
        return SignInResult("expired")
    client = client_key(ip)
    throttle = _throttled(conn, account.login, client, at)
    if throttle is not None:
        _record_attempt(conn, account.login, account, at, throttle.reason, client)
        return SignInResult(throttle.reason, account.id, until=throttle.until)
    taken = take_code(conn, account.id, code, at)
    reason = "ok" if taken else "bad_code"
    _record_attempt(conn, account.login, account, at, reason, client)
    if not taken:
        return SignInResult(reason, account.id)
    end_session(conn, token, at)
    return _open(conn, account.id, "ok", f"password+{taken}", at, ip, user_agent)


def promote(
    conn: Connection, token: str, *, ip: str | None = None, now: datetime | None = None, user_agent: str | None = None
) -> SignInResult:
    """Once a staff member has enrolled their second factor, their half-done ``enrol`` session becomes a full one."""
    at = _now(now)
    pending = live_session(conn, token, at, stages=("enrol",))
    if pending is None or not has_second_factor(conn, pending.account_id):
        return SignInResult("expired")
    end_session(conn, token, at)
    return _open(conn, pending.account_id, "ok", "password+totp", at, ip, user_agent)


def account_by_login(conn: Connection, login: str) -> Account | None:
    """The account holding the (normalised) ``login``, or None."""
    row = _account_row_by_login(conn, login)
    return None if row is None else _account(row)


def account_email(conn: Connection, account_id: UUID) -> str | None:
    """Where the account's mail goes: its e-mail, else its login when that is an e-mail."""
    row = conn.execute(select(accounts.c.login, accounts.c.email).where(accounts.c.id == account_id)).first()
    if row is None:
        return None
    return row.email or (row.login if "@" in row.login and not row.login.startswith("deleted:") else None)


def _account_row_by_login(conn: Connection, login: str) -> Row[Any] | None:
    # Two lookups, each by its table's own key: a join of the two would ask every shard on Citus.
    account_id = conn.execute(
        select(account_logins.c.account_id).where(account_logins.c.login == login)
    ).scalar_one_or_none()
    if account_id is None:
        return None
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def session_principal(
    conn: Connection, token: str, *, now: datetime | None = None, stages: tuple[str, ...] = ("full",)
) -> Principal | None:
    """The principal of a live session token (not revoked, not expired, not idle, account active), or None.

    Only a full session counts, unless ``stages`` says otherwise: enrolling a second factor takes a
    session at stage ``enrol`` too.
    """
    session = live_session(conn, token, _now(now), stages=stages)
    if session is None:
        return None
    # Two lookups, each by its table's own key (sessions go by the token's hash, accounts by id).
    row = conn.execute(select(accounts).where(accounts.c.id == session.account_id, accounts.c.active)).first()
    if row is None:
        return None
    return Principal(_account(row), roles_in_force(conn, row.id))


def deployment_admin_with_second_factor(conn: Connection) -> bool:
    """Whether an active account is the deployment's administrator and has a second factor."""
    candidates = conn.execute(
        select(role_grants.c.account_id).where(role_grants.c.role == Role.DEPLOYMENT_ADMIN.value).distinct()
    ).scalars()
    for account_id in candidates:
        account = get_account(conn, account_id)
        in_force = Grant(Role.DEPLOYMENT_ADMIN, None) in roles_in_force(conn, account_id)
        if account is not None and account.active and in_force and has_second_factor(conn, account_id):
            return True
    return False


def record_admin_token_use(conn: Connection, method: str, path: str, ip: str | None) -> None:
    """Journal one use of the deployment's admin token: what it asked, from where, and when."""
    now = datetime.now(UTC)
    entry = AuditEntry("use", "admin_token", f"{method} {path}"[:128], None, {"ip": ip})
    write_audit(conn, GLOBAL_SCOPE, SYSTEM, now, [entry])
    details = {"method": method, "path": path[:512]}
    record_security_event(
        Kind.ADMIN_TOKEN_USED, Outcome.SUCCESS, actor=SYSTEM, target=path[:512], details=details, conn=conn, at=now
    )


def failed_sign_ins(conn: Connection, school_id: str | None, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Failed attempts, newest first: of one school's accounts, or (``None``) of every login."""
    query = select(sign_in_attempts).where(
        sign_in_attempts.c.success.is_(False), sign_in_attempts.c.reason.not_in(_STEPS)
    )
    if school_id is not None:
        query = query.where(sign_in_attempts.c.school_id == school_id)
    query = query.order_by(sign_in_attempts.c.at.desc(), sign_in_attempts.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


# -- roles -----------------------------------------------------------------------------------------


def _check_scope(role: Role, scope: str | None) -> None:
    if (role in UNSCOPED_ROLES) != (scope is None):
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


def grants_of(conn: Connection, account_ids: Sequence[UUID]) -> dict[UUID, set[Grant]]:
    """The grants in force of many accounts in one query (the newest row of each grant decides)."""
    if not account_ids:
        return {}
    newest: dict[tuple[UUID, Grant], bool] = {}
    rows = conn.execute(
        select(role_grants.c.account_id, role_grants.c.role, role_grants.c.scope, role_grants.c.granted)
        .where(role_grants.c.account_id.in_(account_ids))
        .order_by(role_grants.c.id)
    )
    for account_id, role, scope, granted in rows:
        newest[(account_id, Grant(Role(role), scope))] = bool(granted)
    out: dict[UUID, set[Grant]] = {}
    for (account_id, grant), on in newest.items():
        if on:
            out.setdefault(account_id, set()).add(grant)
    return out


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
    record_security_event(
        Kind.ROLE_GRANTED if granted else Kind.ROLE_REVOKED,
        Outcome.SUCCESS,
        actor=actor,
        school=school,
        target=f"account:{account_id}",
        details={**fields, "login": account.login},
        conn=conn,
        at=now,
    )
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
