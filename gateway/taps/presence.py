"""Who is in the building now, from the day's granted entries and exits on the gateway's own disk.

A person whose last granted passage of the local day is an entry is in; an exit takes them out.
Two entries in a row (a double tap, or an exit the turnstile missed) count once, and a meal at the
canteen is no passage: it neither brings anyone in nor takes anyone out. Everything comes from the
durable events (never from memory), so the answer is the same after a restart, and only the day's
rows are read, through the ``events_local_day`` index: months of history cost nothing.

Each passage carries the roster id of who passed (``local_person``) even when the event leaves
without identity (no consent to tracking, §33-1.1): the list is for the school's staff, on the
gateway, in an evacuation, and a child missing from it would not be looked for.

Runs on the storage thread, like the outbox (:class:`gateway.storage.Storage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlite_utils

from shared.contract import Decision, EventKind

__all__ = ["Inside", "inside_on", "query_plan"]


@dataclass(frozen=True, slots=True)
class Inside:
    """A person in the building: their roster id and the time of their last entry (local, with offset)."""

    person_id: str
    entered_at: datetime


# The day's granted passages. The index's partial condition (local_day IS NOT NULL) follows from
# ``local_day = ?``, so SQLite walks the day's rows of events_local_day only (a test checks the
# plan), and in seq order: the rows of one key lie in rowid order, and seq is the rowid.
_PASSAGES = (
    "SELECT local_person, json_extract(body, '$.kind'), json_extract(body, '$.occurred_at') "
    "FROM events WHERE local_day = ? AND local_person IS NOT NULL "
    "AND json_extract(body, '$.decision') = ? AND json_extract(body, '$.kind') IN (?, ?)"
)


def _params(day: date) -> list[str]:
    return [day.isoformat(), Decision.GRANTED.value, EventKind.ENTRY.value, EventKind.EXIT.value]


def inside_on(db: sqlite_utils.Database, day: date) -> list[Inside]:
    """Everyone whose last granted passage of local ``day`` is an entry, in no particular order."""
    last: dict[str, tuple[str, str]] = {}
    for person, kind, occurred_at in db.execute(_PASSAGES, _params(day)):
        # The latest by the time it happened (a terminal that was offline may hand in its taps
        # late); at the same time, the one recorded later. The times compare as text: the gateway
        # writes every one in the school's zone with its offset (one offset all year since March
        # 2024, no summer time), and ISO 8601 sorts "…:05+05:00" before "…:05.3+05:00".
        held = last.get(person)
        if held is None or occurred_at >= held[0]:
            last[person] = (occurred_at, kind)
    entry = EventKind.ENTRY.value
    return [Inside(person, datetime.fromisoformat(at)) for person, (at, kind) in last.items() if kind == entry]


def query_plan(db: sqlite_utils.Database, day: date) -> str:
    """How SQLite reads the day's passages (for the test that keeps it on the index)."""
    rows = db.execute(f"EXPLAIN QUERY PLAN {_PASSAGES}", _params(day)).fetchall()
    return " ".join(str(row[-1]) for row in rows)
