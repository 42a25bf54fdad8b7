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

from cloud_api.services.today import school_today
from cloud_api.web.office.console import StaffDesk
from cloud_api.web.office.downloads import table_file
from shared.localtime import LOCAL_TZ, local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
REFRESH_S = 60
SILENT_AFTER_MIN = 10  # a gateway that delivered nothing for this long in school hours is called silent


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
        return table_file(format, f"roll-call-{desk.school_id}", headings, cells)
    silent = {
        gateway: int((now - at).total_seconds() // 60)
        for gateway, at in day.gateways.items()
        if (now - at).total_seconds() > SILENT_AFTER_MIN * 60
    }
    return desk.page(
        "office/today.html",
        title=desk._("Today"),
        day=day,
        now=now,
        silent=silent,
        refresh=REFRESH_S,
    )
