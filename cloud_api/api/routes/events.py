"""``GET /v1/schools/{school_id}/events``: a school's events of one local day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, SchoolPath, SchoolStaff
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.events import EventPublic
from cloud_api.core.errors import DomainError
from cloud_api.services.events import day_events

__all__ = ["router"]

router = APIRouter(tags=["events"])


@router.get(
    "/v1/schools/{school_id}/events",
    response_model=list[EventPublic],
    summary="A school's events of one local day",
    responses=refusals("after_seq_needs_gateway"),
)
async def school_events(
    engine: EngineDep,
    _: SchoolStaff,
    school_id: SchoolPath,
    date: Annotated[dt.date, Query(description="A local day in Asia/Almaty.", examples=["2026-11-20"])],
    gateway_id: Annotated[str | None, Query(max_length=64, description="Only this gateway's events.")] = None,
    after_gateway: Annotated[
        str | None, Query(max_length=64, description="Paging: the `gateway_id` of the previous page's last event.")
    ] = None,
    after_seq: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Paging: the `seq` of the previous page's last event.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many events.")] = 10_000,
) -> list[EventPublic]:
    """The events of that local day (Asia/Almaty), ordered by gateway and sequence.

    To page, pass the last event's `gateway_id` and `seq` as `after_gateway` and `after_seq`.
    """
    after: tuple[str, int] | None = None
    if after_seq is not None:
        cursor_gateway = after_gateway or gateway_id
        if cursor_gateway is None:
            raise DomainError("after_seq_needs_gateway")
        after = (cursor_gateway, after_seq)
    return await run_in_threadpool(_read, engine, school_id, date, gateway_id, after, limit)


def _read(
    engine: Engine, school_id: str, day: dt.date, gateway_id: str | None, after: tuple[str, int] | None, limit: int
) -> list[EventPublic]:
    with engine.connect() as conn:
        return day_events(conn, school_id, day, gateway_id=gateway_id, after=after, limit=limit)
