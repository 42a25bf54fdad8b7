"""The school's monthly reports in the office.

GET /office/schools/{school}/reports      each report with its versions, deliveries and files, and a
                                          chart of the newest attendance month's days
GET /admin/schools/{school}/reports       the page's old address: on to the office
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from cloud_api.reports.issue import KINDS
from cloud_api.reports.listing import newest_attendance_days, report_listing
from cloud_api.web.office.console import AdminDesk

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/office/schools/{school_id}/reports", response_class=HTMLResponse)
def reports_page(desk: AdminDesk) -> HTMLResponse:
    """Each report with its delivery, its files, and a chart of the newest month's days."""
    with desk.engine.connect() as conn:
        listing = report_listing(conn, desk.school_id, KINDS)
        chart = newest_attendance_days(conn, desk.school_id)
    # The bars are the students present, named and each counted once a day, against the roster: the
    # entries without consent are passages of unknown children (one child may pass several times, and
    # exits count too), so added to the bars they took a school of 100 to "111 present". They are
    # shown apart, in each day's figures. Days still to come when the report was issued have no bar.
    peak = max([chart.enrolled, 1] + [d["students"] for d in chart.days])
    return desk.page(
        "office/reports.html",
        title=desk._("Reports"),
        listing=listing,
        days=chart.days,
        peak=peak,
        enrolled=chart.enrolled,
        chart_month=chart.month,
    )


@router.get("/admin/schools/{school_id}/reports")
def old_address(school_id: str) -> RedirectResponse:
    """Bookmarks of the page's first address still work."""
    return RedirectResponse(f"/office/schools/{school_id}/reports", status_code=308)
