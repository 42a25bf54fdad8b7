"""The second factor of a sign-in (Order No. 456 §5.11): TOTP with recovery codes. The caller owns the transaction.

Who needs one: every staff role always (:data:`~cloud_api.services.accounts.STAFF_ROLES`); a guardian
when they turn it on; a student when they turn it on, or, under 16, when a guardian does
(``accounts.second_factor_wanted``). An account that needs one signs in with its password and
then a code. A staff member who has none enrols it at their first sign-in; anyone else enrols it
in their settings.

TOTP follows RFC 6238 (``pyotp``: 6 digits, 30-second steps, SHA-1, as every authenticator app
reads it). A code is taken for the step before, the step of, or the step after the server's clock,
and only for a step newer than the last one taken: a code works once, even within its 30 seconds.
Enrolment writes a new secret, and the first right code confirms it. Confirming gives ten recovery
codes, each good for one sign-in when the phone is lost, kept only as SHA-256. An administrator's
reset removes every factor of an account (audited), so that its owner enrols again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import pyotp
from sqlalchemy import Connection, delete, insert, or_, select, update

from cloud_api.core.security_events import Kind, Outcome, record_security_event
from cloud_api.db.schema import passkeys, recovery_codes, totp_secrets
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "ISSUER",
    "RECOVERY_CODE_COUNT",
    "Enrolment",
    "begin_totp",
    "confirm_totp",
    "has_second_factor",
    "recovery_codes_left",
    "remove_second_factors",
    "take_code",
    "totp_enrolled",
]

ISSUER = "Mektep Gate"  # what an authenticator app shows above the code
RECOVERY_CODE_COUNT = 10
STEP_S = 30
ENROL_WITHIN = timedelta(minutes=10)
# Without 0/o, 1/l/i: a code read off paper is typed right.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Enrolment:
    """A secret being enrolled: the ``otpauth://`` URI a QR code carries, and the secret to type instead."""

    secret: str
    uri: str


def begin_totp(conn: Connection, account_id: UUID, login: str, now: datetime, *, fresh: bool = True) -> Enrolment:
    """A new secret for ``account_id``, unconfirmed until :func:`confirm_totp`.

    An account with a confirmed authenticator keeps it, working, until the new one is confirmed (a
    set-up begun and abandoned must not leave the account without its second factor). With
    ``fresh=False`` a secret begun within ``ENROL_WITHIN`` is given again: a page reloaded while its
    reader scans the QR code must not change the code under them.
    """
    row = conn.execute(select(totp_secrets).where(totp_secrets.c.account_id == account_id)).first()
    confirmed = row is not None and row.confirmed_at is not None
    if not fresh and row is not None:
        begun = (row.pending_secret, row.pending_at) if confirmed else (row.secret, row.created_at)
        if begun[0] is not None and begun[1] is not None and begun[1] > now - ENROL_WITHIN:
            return _enrolment(begun[0], login)
    secret = pyotp.random_base32()
    if confirmed:
        conn.execute(
            update(totp_secrets)
            .where(totp_secrets.c.account_id == account_id)
            .values(pending_secret=secret, pending_at=now)
        )
    else:
        conn.execute(delete(totp_secrets).where(totp_secrets.c.account_id == account_id))
        conn.execute(insert(totp_secrets).values(account_id=account_id, secret=secret, created_at=now))
    return _enrolment(secret, login)


def _enrolment(secret: str, login: str) -> Enrolment:
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER))


def confirm_totp(
    conn: Connection, account_id: UUID, code: str, now: datetime, *, actor: str, school_id: str | None
) -> list[str] | None:
    """Confirm the secret being set up with a code from its app: ten new recovery codes, or None for a wrong code."""
    row = conn.execute(select(totp_secrets).where(totp_secrets.c.account_id == account_id)).first()
    if row is None:
        return None
    secret = row.pending_secret if row.confirmed_at is not None else row.secret
    if secret is None:
        return None
    step = _matching_step(secret, code, now)
    if step is None:
        return None
    conn.execute(
        update(totp_secrets)
        .where(totp_secrets.c.account_id == account_id)
        .values(secret=secret, confirmed_at=now, last_step=step, pending_secret=None, pending_at=None)
    )
    codes = _new_recovery_codes(conn, account_id, now)
    entry = AuditEntry("update", "account", str(account_id), None, {"second_factor": "totp enrolled"})
    write_audit(conn, school_id or "*", actor, now, [entry])
    return codes


def totp_enrolled(conn: Connection, account_id: UUID) -> bool:
    """Whether ``account_id`` has a confirmed authenticator."""
    confirmed = conn.execute(
        select(totp_secrets.c.confirmed_at).where(totp_secrets.c.account_id == account_id)
    ).scalar_one_or_none()
    return confirmed is not None


def has_second_factor(conn: Connection, account_id: UUID) -> bool:
    """Whether ``account_id`` can give a second factor: a confirmed authenticator or a passkey."""
    if totp_enrolled(conn, account_id):
        return True
    return conn.execute(select(passkeys.c.credential_id).where(passkeys.c.account_id == account_id)).first() is not None


def take_code(conn: Connection, account_id: UUID, code: str, now: datetime) -> str | None:
    """Take a code as the second factor: ``"totp"`` or ``"recovery"`` when it is good (and now used), else None."""
    cleaned = "".join(code.split())
    if cleaned.isdigit() and len(cleaned) == 6:
        return "totp" if _take_totp(conn, account_id, cleaned, now) else None
    return "recovery" if _take_recovery_code(conn, account_id, cleaned, now) else None


def _take_totp(conn: Connection, account_id: UUID, code: str, now: datetime) -> bool:
    row = conn.execute(
        select(totp_secrets).where(totp_secrets.c.account_id == account_id, totp_secrets.c.confirmed_at.is_not(None))
    ).first()
    if row is None:
        return False
    step = _matching_step(row.secret, code, now)
    if step is None:
        return False
    # Taken only if newer than the last step taken, in one conditional UPDATE: two sign-ins racing with
    # the same code cannot both win.
    taken = conn.execute(
        update(totp_secrets)
        .where(
            totp_secrets.c.account_id == account_id,
            or_(totp_secrets.c.last_step.is_(None), totp_secrets.c.last_step < step),
        )
        .values(last_step=step)
    )
    return taken.rowcount == 1


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_S
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_S), code.strip()):
            return step
    return None


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


def _new_recovery_codes(conn: Connection, account_id: UUID, now: datetime) -> list[str]:
    conn.execute(delete(recovery_codes).where(recovery_codes.c.account_id == account_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    conn.execute(
        insert(recovery_codes),
        [{"account_id": account_id, "code_hash": _code_hash(c), "created_at": now} for c in codes],
    )
    return codes


def _take_recovery_code(conn: Connection, account_id: UUID, code: str, now: datetime) -> bool:
    used = conn.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.account_id == account_id,
            recovery_codes.c.code_hash == _code_hash(code),
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return used.rowcount == 1


def recovery_codes_left(conn: Connection, account_id: UUID) -> int:
    """How many of the account's recovery codes are unused."""
    rows = conn.execute(
        select(recovery_codes.c.code_hash).where(
            recovery_codes.c.account_id == account_id, recovery_codes.c.used_at.is_(None)
        )
    )
    return len(rows.all())


def remove_second_factors(
    conn: Connection, account_id: UUID, now: datetime, *, actor: str, school_id: str | None
) -> None:
    """Remove every second factor of an account (an administrator's reset, or the owner's own); audited."""
    for table in (totp_secrets, recovery_codes, passkeys):
        conn.execute(delete(table).where(table.c.account_id == account_id))
    entry = AuditEntry("update", "account", str(account_id), None, {"second_factor": "reset"})
    write_audit(conn, school_id or "*", actor, now, [entry])
    # The owner turning their own off, the system (the admin token), or another account's reset
    # (a school's administrator, a guardian for a child).
    by = "owner" if actor == f"account:{account_id}" else "system" if actor == "system" else "another_account"
    record_security_event(
        Kind.SECOND_FACTOR_RESET,
        Outcome.SUCCESS,
        actor=actor,
        school=school_id,
        target=f"account:{account_id}",
        details={"by": by},
        conn=conn,
        at=now,
    )
