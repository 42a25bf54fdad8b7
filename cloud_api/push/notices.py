"""Family notices that are no event: a low balance, a child not at school by the start, a child gone early.

They travel the push queue beside the events' notices (same worker, same devices, same languages),
but what they say is kept with them (``facts``), and their ``event_id`` is a name-based UUID of
their kind, child and key, so that the queue's unique key makes queuing one twice a no-op: the
absence worker may run in every API process, and a low balance may be noticed by two ingests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from sqlalchemy import Connection

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import push_queue
from cloud_api.push.queue import State

__all__ = ["ABSENCE_NOTICES", "FAMILY_NOTICES", "notice_id", "queue_family_notice"]

ABSENCE_NOTICES = frozenset({"not_arrived", "left_early"})  # attendance: only with the family's consent
FAMILY_NOTICES = frozenset({"low_balance"}) | ABSENCE_NOTICES


def notice_id(kind: str, person_id: UUID, key: str) -> UUID:
    """The notice's stand-in event id: the same for the same kind, child and key."""
    return uuid5(NAMESPACE_URL, f"mektep:notice:{kind}:{person_id}:{key}")


def queue_family_notice(
    conn: Connection,
    school_id: str,
    person_id: UUID,
    kind: str,
    key: str,
    facts: dict[str, Any],
    now: datetime,
) -> bool:
    """Queue a notice about a child that is no event; False when this kind, child and key was queued before.

    ``facts`` by kind: ``low_balance`` {balance_tiyn, threshold_tiyn}; ``not_arrived`` {deadline: ISO
    instant}; ``left_early`` {at: ISO instant, end: "HH:MM"}. The caller owns the transaction and wakes
    the push worker after it commits.
    """
    if kind not in FAMILY_NOTICES:
        raise ValueError(f"not a family notice: {kind}")
    stmt = (
        dialect_insert(conn, push_queue)
        .values(
            school_id=school_id,
            event_id=notice_id(kind, person_id, key),
            person_id=person_id,
            kind=kind,
            occurred_at=now,
            state=State.PENDING.value,
            attempts=0,
            due_at=now,
            facts=facts,
        )
        .on_conflict_do_nothing(index_elements=["school_id", "event_id"])
        .returning(push_queue.c.id)  # PostgreSQL returns the new id and counts no rows (-1)
    )
    return conn.execute(stmt).first() is not None
