"""``GET /v1/schools/{school_id}/events``: a school's events of one local day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, SchoolStaff
from cloud_api.models import EventPublic
from cloud_api.services.events import day_events

__all__ = ["router"]

router = APIRouter(tags=["events"])


@router.get(
    "/v1/schools/{school_id}/events",
    response_model=list[EventPublic],
    summary="A school's events of one local day",
    responses={
        401: {"description": "No or wrong `Authorization: Bearer <session or admin token>`"},
        403: {"description": "Not school_admin or canteen_staff of this school"},
    },
)
async def school_events(
    engine: EngineDep,
    _: SchoolStaff,
    school_id: Annotated[str, Path(max_length=64, examples=["demo-school"])],
    date: Annotated[dt.date, Query(description="A local day in Asia/Almaty.", examples=["2026-11-20"])],
    gateway_id: Annotated[str | None, Query(max_length=64, description="Only this gateway's events.")] = None,
    after_gateway: Annotated[
        str | None, Query(max_length=64, description="Paging: the `gateway_id` of the previous page's last event.")
    ] = None,
    after_seq: Annotated[
        int | None, Query(ge=0, description="Paging: the `seq` of the previous page's last event.")
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
            raise HTTPException(422, "after_seq needs after_gateway (or a gateway_id filter)")
        after = (cursor_gateway, after_seq)
    return await run_in_threadpool(_read, engine, school_id, date, gateway_id, after, limit)


def _read(
    engine: Engine, school_id: str, day: dt.date, gateway_id: str | None, after: tuple[str, int] | None, limit: int
) -> list[EventPublic]:
    with engine.connect() as conn:
        return day_events(conn, school_id, day, gateway_id=gateway_id, after=after, limit=limit)
