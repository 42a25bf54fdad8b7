"""Read stored events back. The caller owns the connection."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select, tuple_

from cloud_api.api.schemas.events import EventPublic
from cloud_api.db.schema import events
from shared.localtime import with_offset

__all__ = ["day_events", "person_events"]

_PUBLIC = [events.c[name] for name in EventPublic.model_fields if name in events.c] + [events.c.utc_offset_minutes]


def day_events(
    conn: Connection,
    school_id: str,
    day: date,
    *,
    gateway_id: str | None = None,
    after: tuple[str, int] | None = None,
    limit: int = 10_000,
) -> list[EventPublic]:
    """A school's events of one local day (Asia/Almaty), ordered by gateway and sequence.

    ``after=(gateway_id, seq)`` starts after that event: pass the last event of a page to get the
    next one. The day is the one stored at ingest, so this is an index range, not a time scan.
    """
    query = select(*_PUBLIC).where(events.c.school_id == school_id, events.c.local_date == day)
    if gateway_id is not None:
        query = query.where(events.c.gateway_id == gateway_id)
    if after is not None:
        query = query.where(tuple_(events.c.gateway_id, events.c.seq) > tuple_(*after))
    query = query.order_by(events.c.gateway_id, events.c.seq).limit(limit)
    found = []
    for row in conn.execute(query):
        fields = row._asdict()
        fields["occurred_at"] = with_offset(fields["occurred_at"], fields.pop("utc_offset_minutes"))
        found.append(EventPublic.model_validate(fields))
    return found


def person_events(
    conn: Connection, school_id: str, person_id: str, since: date, *, limit: int = 2_000
) -> list[EventPublic]:
    """A person's events from local day ``since`` on, newest first (their entries, exits, meals and refusals)."""
    query = (
        select(*_PUBLIC)
        .where(events.c.school_id == school_id, events.c.person_id == person_id, events.c.local_date >= since)
        .order_by(events.c.occurred_at.desc(), events.c.seq.desc())
        .limit(limit)
    )
    found = []
    for row in conn.execute(query):
        fields = row._asdict()
        fields["occurred_at"] = with_offset(fields["occurred_at"], fields.pop("utc_offset_minutes"))
        found.append(EventPublic.model_validate(fields))
    return found
