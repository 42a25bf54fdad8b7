"""Sessions: what a sign-in opens, how long it lives, and how its owner ends it. The caller owns the transaction.

A session is a random bearer token of which only the SHA-256 is stored. Its kind decides its life:

- ``staff``: anyone who is not only a family (any staff role, or none yet). It lasts 12 hours at
  most and ends after 30 minutes without a request.
- ``device``: a guardian's or a student's phone. It lasts 30 days and its token is rotated once a
  day (:func:`rotate`): a token copied off a device stops working the next day, once the device has
  used its new one.

A sign-in may be half done: the password was right and a second factor is due (stage
``second_factor``), or a staff member must first enrol one (``enrol``). Such a session opens
nothing but the next step, and lives 10 minutes. Each user lists their sessions and ends any of them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from cloud_api.db.schema import sessions

__all__ = [
    "DEVICE_TTL",
    "IDLE_LIMIT",
    "PENDING_TTL",
    "ROTATE_AFTER",
    "STAFF_TTL",
    "LiveSession",
    "Opened",
    "end_session",
    "end_sessions",
    "live_session",
    "open_session",
    "rotate",
    "rotate_if_due",
    "sessions_of",
    "token_hash",
]

STAFF_TTL = timedelta(hours=12)
IDLE_LIMIT = timedelta(minutes=30)
DEVICE_TTL = timedelta(days=30)
ROTATE_AFTER = timedelta(days=1)
PENDING_TTL = timedelta(minutes=10)
# A request's last-seen time is written at most this often: not a write on every request.
_SEEN_EVERY = timedelta(minutes=1)
# A rotated-out token keeps working this long, for the requests a page already had in flight.
_ROTATION_GRACE = timedelta(minutes=1)


def token_hash(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A new session's token (shown once, never stored) and when it ends."""

    token: str
    expires_at: datetime
    stage: str
    kind: str


@dataclass(frozen=True)
class LiveSession:
    """A session that is in force, as a request finds it."""

    token_hash: str
    account_id: UUID
    stage: str
    kind: str
    created_at: datetime
    expires_at: datetime
    method: str | None
    challenge: str | None


def open_session(
    conn: Connection,
    account_id: UUID,
    now: datetime,
    *,
    kind: str,
    stage: str = "full",
    method: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Opened:
    """A new session of ``kind`` (``staff`` or ``device``) at ``stage``."""
    lives = {"staff": STAFF_TTL, "device": DEVICE_TTL}
    ttl = lives[kind] if stage == "full" else PENDING_TTL
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            account_id=account_id,
            created_at=now,
            expires_at=now + ttl,
            last_seen_at=now,
            stage=stage,
            kind=kind,
            method=method,
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    return Opened(token, now + ttl, stage, kind)


def live_session(
    conn: Connection, token: str, now: datetime, *, stages: Collection[str] = ("full",)
) -> LiveSession | None:
    """The session of ``token`` if it is in force at ``now`` and at one of ``stages``; its last-seen time is kept.

    A staff session idle for ``IDLE_LIMIT`` has ended (and is marked so).
    """
    hashed = token_hash(token)
    row = conn.execute(
        select(sessions).where(
            sessions.c.token_hash == hashed,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
            sessions.c.stage.in_(list(stages)),
        )
    ).first()
    if row is None:
        return None
    seen = row.last_seen_at or row.created_at
    if row.kind == "staff" and now - seen > IDLE_LIMIT:
        conn.execute(update(sessions).where(sessions.c.token_hash == hashed).values(revoked_at=seen + IDLE_LIMIT))
        return None
    if now - seen >= _SEEN_EVERY:
        conn.execute(update(sessions).where(sessions.c.token_hash == hashed).values(last_seen_at=now))
    return LiveSession(
        hashed, row.account_id, row.stage, row.kind, row.created_at, row.expires_at, row.method, row.challenge
    )


def rotate(conn: Connection, session: LiveSession, now: datetime, *, ip: str | None = None) -> Opened | None:
    """A new token for a device session older than ``ROTATE_AFTER`` (for another 30 days); None otherwise.

    The old token keeps working for a minute (requests already in flight), then ends.
    """
    if session.kind != "device" or session.stage != "full" or now - session.created_at < ROTATE_AFTER:
        return None
    ended = conn.execute(
        update(sessions)
        .where(
            sessions.c.token_hash == session.token_hash,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now + _ROTATION_GRACE,
        )
        .values(expires_at=now + _ROTATION_GRACE)
    )
    if ended.rowcount != 1:
        return None  # another request of this device rotated it first
    return open_session(conn, session.account_id, now, kind="device", method=session.method, ip=ip)


def rotate_if_due(conn: Connection, token: str, now: datetime, *, ip: str | None = None) -> Opened | None:
    """The new token of the device session of ``token`` if it was due for rotation (see :func:`rotate`)."""
    session = live_session(conn, token, now)
    return None if session is None else rotate(conn, session, now, ip=ip)


def end_session(conn: Connection, token: str, now: datetime) -> None:
    """End the session of ``token`` (nothing happens for an unknown or ended one)."""
    conn.execute(
        update(sessions)
        .where(sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_sessions(conn: Connection, account_id: UUID, now: datetime, *, hashed: str | None = None) -> int:
    """End the account's sessions (only the one whose hash is ``hashed``, if given); how many ended."""
    query = update(sessions).where(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None))
    if hashed is not None:
        query = query.where(sessions.c.token_hash == hashed)
    return conn.execute(query.values(revoked_at=now)).rowcount


def sessions_of(conn: Connection, account_id: UUID, now: datetime) -> list[dict[str, Any]]:
    """The account's sessions in force, newest first: what a user reads to recognise their devices."""
    rows = conn.execute(
        select(sessions)
        .where(
            sessions.c.account_id == account_id,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
            sessions.c.stage == "full",
        )
        .order_by(sessions.c.created_at.desc())
    )
    return [dict(r._mapping) for r in rows]
