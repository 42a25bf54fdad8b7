"""One-time codes that let a person set their own password: activation of a new account, and a reset.
The caller owns the transaction.

A school creates guardians' and students' accounts in bulk from its roster; each gets an activation
code, printed on a letter (with a QR code of the activation link) or sent by e-mail. An administrator
who resets a password gets a reset code to hand over, never a password they would know; a person
who forgot theirs gets a reset code by e-mail. In each case the person types the code and chooses
their password.

A code is 8 characters (about 40 bits; without the letters and digits people confuse), kept only as
SHA-256. It expires (activation 30 days, reset 1 hour), works once, and dies after five wrong tries
(a new one must be issued). One code is pending per account and purpose: issuing another replaces it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from sqlalchemy import Connection, delete, insert, select, update

from cloud_api.db.schema import one_time_codes
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = ["MAX_TRIES", "TTL", "Purpose", "issue_code", "pending_since", "redeem_code"]

Purpose = Literal["activation", "reset"]
TTL: dict[str, timedelta] = {"activation": timedelta(days=30), "reset": timedelta(hours=1)}
MAX_TRIES = 5
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _hash(code: str) -> str:
    cleaned = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(cleaned.encode()).hexdigest()


def issue_code(
    conn: Connection,
    account_id: UUID,
    purpose: Purpose,
    now: datetime,
    *,
    actor: str,
    school_id: str | None,
) -> str:
    """A new code for ``account_id`` (replacing a pending one), shown once as ``XXXX-XXXX``; journalled."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    code = f"{raw[:4]}-{raw[4:]}"
    conn.execute(
        delete(one_time_codes).where(one_time_codes.c.account_id == account_id, one_time_codes.c.purpose == purpose)
    )
    conn.execute(
        insert(one_time_codes).values(
            account_id=account_id,
            purpose=purpose,
            code_hash=_hash(code),
            created_at=now,
            created_by=actor,
            expires_at=now + TTL[purpose],
        )
    )
    entry = AuditEntry("update", "account", str(account_id), None, {"one_time_code": f"{purpose} issued"})
    write_audit(conn, school_id or "*", actor, now, [entry])
    return code


def pending_since(conn: Connection, account_id: UUID, purpose: Purpose, now: datetime) -> datetime | None:
    """When the account's pending (unused, unexpired) code of ``purpose`` was issued, if there is one."""
    row = conn.execute(
        select(one_time_codes.c.created_at).where(
            one_time_codes.c.account_id == account_id,
            one_time_codes.c.purpose == purpose,
            one_time_codes.c.used_at.is_(None),
            one_time_codes.c.expires_at > now,
        )
    ).first()
    return None if row is None else row.created_at  # type: ignore[no-any-return]


def redeem_code(conn: Connection, account_id: UUID, purpose: Purpose, code: str, now: datetime) -> str:
    """Use the code: ``ok`` (now spent), ``wrong`` (a try counted), or ``spent`` (none pending: used,
    expired, five wrong tries, or never issued). The caller must commit whatever the outcome."""
    row = conn.execute(
        select(one_time_codes).where(one_time_codes.c.account_id == account_id, one_time_codes.c.purpose == purpose)
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now or row.tries >= MAX_TRIES:
        return "spent"
    # Every change is one conditional UPDATE on a code still pending: parallel guesses cannot take more
    # than the five tries, and two tabs redeeming the same code cannot both win.
    pending = (
        one_time_codes.c.account_id == account_id,
        one_time_codes.c.purpose == purpose,
        one_time_codes.c.used_at.is_(None),
        one_time_codes.c.expires_at > now,
        one_time_codes.c.tries < MAX_TRIES,
    )
    if not hmac.compare_digest(row.code_hash, _hash(code)):
        counted = conn.execute(update(one_time_codes).where(*pending).values(tries=one_time_codes.c.tries + 1))
        return "wrong" if counted.rowcount == 1 else "spent"
    taken = conn.execute(update(one_time_codes).where(*pending).values(used_at=now))
    return "ok" if taken.rowcount == 1 else "spent"
