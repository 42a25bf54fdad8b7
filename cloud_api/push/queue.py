"""The push queue: one row per stored event a guardian may hear of. The caller owns the transaction.

Ingest writes the rows in the batch's own transaction (so an event and its notice commit or vanish
together) and never waits for a push service. It is a leased queue (:mod:`cloud_api.background.queue`):
a worker that dies mid-send leaves its rows to be claimed again when the lease in ``due_at`` runs
out (at least once); on PostgreSQL several API processes work it side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert

from cloud_api.background.queue import PENDING, LeasedQueue
from cloud_api.db.schema import push_queue
from cloud_api.push.messages import notice_kind
from shared.contract import Event

__all__ = ["QUEUE", "State", "claim", "enqueue", "finish"]


QUEUE = LeasedQueue(push_queue, key=("id",))


class State(StrEnum):
    """Where a queued notice is."""

    PENDING = PENDING  # due from ``due_at``: new, or claimed by a worker until its lease runs out
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
    """Claim up to ``limit`` due notices, oldest first, counting a try on each."""
    rows = QUEUE.claim(conn, now=now, limit=limit, lease=lease, values={"attempts": push_queue.c.attempts + 1})
    return [dict(row._mapping) for row in rows]


def finish(conn: Connection, settled: Sequence[tuple[int, State, str | None]], now: datetime) -> None:
    """Settle claimed notices: (row id, final state, what happened) each."""
    for row_id, state, detail in settled:
        QUEUE.settle(conn, [(row_id,)], state.value, done_at=now, detail=None if detail is None else detail[:200])
