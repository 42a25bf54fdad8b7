"""The push queue: one row per stored event a guardian may hear of. The caller owns the transaction.

Ingest writes the rows in the batch's own transaction (so an event and its notice commit or vanish
together) and never waits for a push service. Workers claim due rows with a lease: a worker that
dies mid-send leaves its rows to be claimed again when the lease runs out (at least once); on
PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets several API processes work one queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from cloud_api.db.schema import push_queue
from cloud_api.push.messages import notice_kind
from shared.contract import Event

__all__ = ["State", "claim", "enqueue", "finish"]


class State(StrEnum):
    """Where a queued notice is."""

    PENDING = "pending"
    WORKING = "working"  # claimed; due_at is when the lease runs out
    SENT = "sent"
    COALESCED = "coalesced"  # the same child and kind within a minute: the first notice says it
    SKIPPED = "skipped"  # no consent, nobody subscribed, or nobody wants this kind


def enqueue(conn: Connection, school_id: str, events: Sequence[Event], now: datetime) -> int:
    """Queue a notice for each newly stored event that makes one; how many were queued."""
    rows: list[dict[str, Any]] = []
    for e in events:
        if e.person_id is None or notice_kind(e.kind.value, e.decision.value, e.reason) is None:
            continue
        try:
            person = UUID(e.person_id)
        except ValueError:
            continue  # not a roster person: nobody's child
        rows.append(
            {
                "school_id": school_id,
                "event_id": e.id,
                "person_id": person,
                "kind": e.kind.value,
                "occurred_at": e.occurred_at,
                "state": State.PENDING.value,
                "attempts": 0,
                "due_at": now,
            }
        )
    if rows:
        conn.execute(insert(push_queue), rows)
    return len(rows)


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[dict[str, Any]]:
    """Claim up to ``limit`` due rows (pending, or working with a lease run out), oldest first."""
    due = (
        select(push_queue.c.id)
        .where(push_queue.c.state.in_((State.PENDING.value, State.WORKING.value)), push_queue.c.due_at <= now)
        .order_by(push_queue.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = conn.execute(
        update(push_queue)
        .where(push_queue.c.id.in_(due.scalar_subquery()))
        .values(state=State.WORKING.value, due_at=now + lease, attempts=push_queue.c.attempts + 1)
        .returning(*push_queue.c)
    )
    return sorted((dict(row._mapping) for row in claimed), key=lambda row: row["id"])


def finish(conn: Connection, row_id: int, state: State, now: datetime, detail: str | None = None) -> None:
    """Settle a claimed row."""
    conn.execute(
        update(push_queue)
        .where(push_queue.c.id == row_id)
        .values(state=state.value, done_at=now, detail=None if detail is None else detail[:200])
    )
