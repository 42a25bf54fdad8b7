"""``GET /v1/schools/{school_id}/events``: a school's events of one local day."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from cloud_api.api.deps import AdminAuth, EngineDep
from cloud_api.db.schema import events

__all__ = ["EventPublic", "router"]

router = APIRouter(tags=["events"])


class EventPublic(BaseModel):
    """An event as the API shows it (no keys, no raw card numbers: there are none to show)."""

    id: UUID
    seq: int
    school_id: str
    gateway_id: str
    device_id: str
    kind: str
    person_id: str | None
    credential_kind: str | None
    occurred_at: dt.datetime
    local_date: dt.date
    decision: str
    reason: str
    judged_without_roster: bool
    meal: dict[str, Any] | None
    received_at: dt.datetime


@router.get("/v1/schools/{school_id}/events", response_model=list[EventPublic])
def school_events(
    school_id: str,
    engine: EngineDep,
    _: AdminAuth,
    date: dt.date = Query(..., description="A local day in Asia/Almaty.", examples=["2026-11-20"]),
    limit: int = Query(10_000, ge=1, le=100_000),
) -> list[dict[str, Any]]:
    """The events of that local day (Asia/Almaty), ordered by gateway and sequence."""
    query = (
        select(*[c for c in events.c if c.name not in ("credential_hash", "utc_offset_minutes", "batch_id")])
        .where(events.c.school_id == school_id, events.c.local_date == date)
        .order_by(events.c.gateway_id, events.c.seq)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
