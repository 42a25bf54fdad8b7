"""Pairing codes, paired devices and the journal of sign-ins, in the gateway's SQLite database.

A device is paired once: the school's administrator runs ``mektep gateway pair`` on the gateway,
which makes a one-time code (8 characters, valid :data:`CODE_VALID_FOR`), and types it on the
canteen PC's sign-in page. The page then gives that browser a long random token in a cookie; the
gateway keeps only the token's SHA-256, so a copy of the database opens no page. ``mektep gateway
unpair ID`` revokes a device. Codes are kept hashed too, and work once.

Every sign-in, refusal, pairing and revocation is written to ``access_journal`` (the events page
shows the latest). Functions here take the open database and do not commit on their own: each runs
in one ``atomic`` block, as the outbox's do.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlite_utils
from sqlite_utils import Migrations

__all__ = [
    "CODE_ALPHABET",
    "CODE_VALID_FOR",
    "Action",
    "JournalRow",
    "PairedDevice",
    "device_of",
    "devices",
    "issue_code",
    "journal",
    "latest_journal",
    "migrate",
    "normalise_code",
    "redeem_code",
    "revoke",
]

migrations = Migrations("mektep-gateway-access")

# No 0/O or 1/I/L: read off one screen and typed on another. 31 symbols, 8 of them: near 40 bits,
# against at most a few dozen guesses (see gateway.access.gate) in the code's quarter of an hour.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_VALID_FOR = timedelta(minutes=15)


@migrations()
def m001_access(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE pairing_codes (
            code_sha256 TEXT PRIMARY KEY,
            issued_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE paired_devices (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE,  -- the cookie's token is never stored
            paired_at TEXT NOT NULL,
            address TEXT,
            revoked_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE access_journal (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            staff_id TEXT,
            device_id INTEGER,
            address TEXT
        )
        """
    )


def migrate(db: sqlite_utils.Database) -> None:
    """Create or bring up to date the access tables."""
    migrations.apply(db)


class Action(StrEnum):
    """What the journal records; each is a catalog message too (``access_<value>``)."""

    SIGNED_IN = "signed_in"
    WRONG_PIN = "wrong_pin"
    LOCKED = "locked"
    SIGNED_OUT = "signed_out"
    CODE_ISSUED = "code_issued"
    PAIRED = "paired"
    WRONG_CODE = "wrong_code"
    UNPAIRED = "unpaired"


@dataclass(frozen=True, slots=True)
class PairedDevice:
    """A browser paired with the gateway."""

    id: int
    name: str
    paired_at: str
    address: str | None
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One line of the access journal."""

    at: str
    action: Action
    staff_id: str | None
    device_id: int | None
    device_name: str | None
    address: str | None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """A code as typed (any case, spaces or a dash) → its canonical 8 characters."""
    return "".join(c for c in code.upper() if c.isalnum())


def issue_code(db: sqlite_utils.Database, now: datetime, valid_for: timedelta = CODE_VALID_FOR) -> str:
    """Make a one-time pairing code, kept hashed; returned once, as ``ABCD-EFGH``."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    with db.atomic():
        db.execute(
            "INSERT INTO pairing_codes (code_sha256, issued_at, expires_at) VALUES (?, ?, ?)",
            [_sha256(code), now.isoformat(), (now + valid_for).isoformat()],
        )
        _journal(db, Action.CODE_ISSUED, now)
    return f"{code[:4]}-{code[4:]}"


def redeem_code(db: sqlite_utils.Database, code: str, name: str, address: str | None, now: datetime) -> str | None:
    """Use a pairing code: a new device and its token, or None (unknown, used or expired code)."""
    digest = _sha256(normalise_code(code))
    token = secrets.token_urlsafe(32)
    with db.atomic():
        # One statement marks it used: a code raced by two browsers pairs one of them.
        used = db.execute(
            "UPDATE pairing_codes SET used_at = ? WHERE code_sha256 = ? AND used_at IS NULL AND expires_at > ?",
            [now.isoformat(), digest, now.isoformat()],
        ).rowcount
        if not used:
            _journal(db, Action.WRONG_CODE, now, address=address)
            return None
        device_id = db.execute(
            "INSERT INTO paired_devices (name, token_sha256, paired_at, address) VALUES (?, ?, ?, ?)",
            [name, _sha256(token), now.isoformat(), address],
        ).lastrowid
        _journal(db, Action.PAIRED, now, device_id=device_id, address=address)
    return token


def device_of(db: sqlite_utils.Database, token: str) -> PairedDevice | None:
    """The paired, not revoked, device holding ``token``."""
    row = db.execute(
        "SELECT id, name, paired_at, address, revoked_at FROM paired_devices"
        " WHERE token_sha256 = ? AND revoked_at IS NULL",
        [_sha256(token)],
    ).fetchone()
    return None if row is None else PairedDevice(*row)


def devices(db: sqlite_utils.Database) -> list[PairedDevice]:
    """Every device ever paired, revoked ones included, oldest first."""
    rows = db.execute("SELECT id, name, paired_at, address, revoked_at FROM paired_devices ORDER BY id").fetchall()
    return [PairedDevice(*row) for row in rows]


def revoke(db: sqlite_utils.Database, device_id: int, now: datetime) -> bool:
    """Unpair a device: its cookie opens nothing from now on. False if no such paired device."""
    with db.atomic():
        done = db.execute(
            "UPDATE paired_devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now.isoformat(), device_id]
        ).rowcount
        if done:
            _journal(db, Action.UNPAIRED, now, device_id=device_id)
    return bool(done)


def journal(
    db: sqlite_utils.Database,
    action: Action,
    now: datetime,
    *,
    staff_id: str | None = None,
    device_id: int | None = None,
    address: str | None = None,
) -> None:
    """Record one sign-in, sign-out or refusal."""
    with db.atomic():
        _journal(db, action, now, staff_id=staff_id, device_id=device_id, address=address)


def _journal(
    db: sqlite_utils.Database,
    action: Action,
    now: datetime,
    *,
    staff_id: str | None = None,
    device_id: int | None = None,
    address: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO access_journal (at, action, staff_id, device_id, address) VALUES (?, ?, ?, ?, ?)",
        [now.isoformat(), action.value, staff_id, device_id, address],
    )


def latest_journal(db: sqlite_utils.Database, limit: int = 20) -> list[JournalRow]:
    """The newest lines of the journal, newest first, with the device's name."""
    rows = db.execute(
        "SELECT j.at, j.action, j.staff_id, j.device_id, d.name, j.address FROM access_journal j"
        " LEFT JOIN paired_devices d ON d.id = j.device_id ORDER BY j.id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [JournalRow(at, Action(action), *rest) for at, action, *rest in rows]
