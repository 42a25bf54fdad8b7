"""The school's day at a glance: the office's first page.

GET /office/schools/{school}/today            who is inside (by class, printable as a roll call for
                                              an evacuation), who has not arrived, meals, readers,
                                              the gateway, warnings; it reloads itself every minute
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.reports.deadline import is_working_day
from cloud_api.services.gateways import gateways_of
from cloud_api.services.today import school_today
from cloud_api.web.office.console import StaffDesk
from cloud_api.web.office.downloads import personal_table_file
from shared.localtime import LOCAL_TZ, local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
REFRESH_S = 60
SILENT_AFTER_MIN = 10  # a gateway that delivered nothing for this long in school hours is called silent
SCHOOL_HOURS = (7, 19)  # local hours in which a silent gateway is news


def silent_gateways(registered: list[str], delivered: dict[str, datetime], now: datetime) -> dict[str, int | None]:
    """The school's gateways that delivered nothing for ``SILENT_AFTER_MIN`` minutes in school hours (a
    working day, 07:00-19:00 local): minutes since the last delivery today, or None for none today."""
    local = now.astimezone(LOCAL_TZ)
    if not is_working_day(local.date()) or not SCHOOL_HOURS[0] <= local.hour < SCHOOL_HOURS[1]:
        return {}
    found: dict[str, int | None] = {}
    for gateway in sorted({*registered, *delivered}):
        at = delivered.get(gateway)
        if at is None:
            found[gateway] = None
        elif (now - at).total_seconds() > SILENT_AFTER_MIN * 60:
            found[gateway] = int((now - at).total_seconds() // 60)
    return found


@router.get("/office/schools/{school_id}/today", response_class=HTMLResponse)
def today_page(desk: StaffDesk, format: Annotated[Literal["", "csv", "xlsx"], Query()] = "") -> Response:
    """Who is in the building, who is missing, what was served, and what needs attention now.

    ``?format=csv|xlsx``: the roll call (who is inside, by class) as a file.
    """
    now = datetime.now(UTC)
    with desk.engine.connect() as conn:
        day = school_today(conn, desk.school_id, local_date(now))
    if format:
        _ = desk._
        headings = [_("Class"), _("Full name"), _("Since")]
        cells = (
            [name or _("Staff"), f"{p['last_name']} {p['first_name']}", _.time(p["since"].astimezone(LOCAL_TZ))]
            for name, rows in day.inside_by_class
            for p in rows
        )
        return personal_table_file(desk, format, f"roll-call-{desk.school_id}", headings, cells)
    with desk.engine.connect() as conn:
        registered = gateways_of(conn, desk.school_id)
    silent = silent_gateways(registered, day.gateways, now)
    return desk.page(
        "office/today.html",
        title=desk._("Today"),
        day=day,
        now=now,
        silent=silent,
        refresh=REFRESH_S,
    )
