"""The monthly reports over HTTP: the school admin's list and downloads, a region's and the country's sums.

GET /v1/reports/schema                                      the JSON Schema of the report files
GET /v1/schools/{school_id}/reports                         school_admin: versions, deliveries, warnings
GET /v1/schools/{school_id}/reports/{month}/{kind}/{version}/{name}   school_admin: one file
GET /v1/regions/{region_id}/reports/{month}                 region (of that region) or ministry: the sums
GET /v1/reports/all/{month}                                 ministry: every school's sums
GET /admin/schools/{school_id}/reports                      school_admin: the same as a page, with a chart
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, select

from cloud_api.api.deps import AcceptLanguage, CurrentAccount, EngineDep, SchoolAdmin
from cloud_api.api.errors import coded_error
from cloud_api.db.schema import report_deliveries, report_warnings, reports
from cloud_api.reports.models import report_schema
from cloud_api.reports.region import region_report
from cloud_api.services.accounts import Role
from cloud_api.web.parent import TEMPLATES as PAGES
from mektep.i18n import translator

__all__ = ["router"]

router = APIRouter(tags=["reports"])
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
TEMPLATES: Jinja2Templates = PAGES


@router.get("/v1/reports/schema", summary="The JSON Schema of the report files")
def schema() -> dict[str, Any]:
    """What ``meals.json`` and ``attendance.json`` hold."""
    return report_schema()


def _listing(conn: Connection, school_id: str) -> list[dict[str, Any]]:
    deliveries: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for d in conn.execute(select(report_deliveries).where(report_deliveries.c.school_id == school_id)):
        deliveries.setdefault((d.month, d.kind, d.version), []).append(
            {
                "receiver": d.receiver,
                "state": d.state,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at,
                "last_error": d.last_error,
            }
        )
    warned = {(w.month, w.kind): w.raised_at for w in
              conn.execute(select(report_warnings).where(report_warnings.c.school_id == school_id))}  # fmt: skip
    rows = conn.execute(
        select(reports.c.month, reports.c.kind, reports.c.version, reports.c.created_at, reports.c.changes,
               reports.c.missing_gateways, reports.c.files)
        .where(reports.c.school_id == school_id)
        .order_by(reports.c.month.desc(), reports.c.kind, reports.c.version.desc())
    )  # fmt: skip
    return [
        {
            "month": r.month,
            "kind": r.kind,
            "version": r.version,
            "created_at": r.created_at,
            "changes": r.changes,
            "missing_gateways": r.missing_gateways,
            "files": sorted(r.files),
            "deliveries": deliveries.get((r.month, r.kind, r.version), []),
            "warned_at": warned.get((r.month, r.kind)),
        }
        for r in rows
    ]


@router.get("/v1/schools/{school_id}/reports", summary="The school's reports and their delivery")
def list_reports(school_id: str, _: SchoolAdmin, engine: EngineDep) -> list[dict[str, Any]]:
    """Every version of every month's report, newest first, with each receiver's receipt state."""
    with engine.connect() as conn:
        return _listing(conn, school_id)


@router.get("/v1/schools/{school_id}/reports/{month}/{kind}/{version}/{name}", summary="Download a report file")
def download(
    school_id: str, month: Month, kind: Annotated[str, Path(pattern="^(meals|attendance)$")], version: int,
    name: Annotated[str, Path(pattern=r"^[a-z-]+\.(json|csv|xlsx)$")], _: SchoolAdmin, engine: EngineDep,
) -> Response:  # fmt: skip
    """One file of one version, byte for byte as signed in its manifest."""
    with engine.connect() as conn:
        files = conn.execute(
            select(reports.c.files).where(
                reports.c.school_id == school_id,
                reports.c.month == month,
                reports.c.kind == kind,
                reports.c.version == version,
            )
        ).scalar()
    if files is None or name not in files:
        raise HTTPException(404)
    return Response(
        base64.b64decode(files[name]),
        media_type=_TYPES[name.rsplit(".", 1)[1]],
        headers={"Content-Disposition": f'attachment; filename="{school_id}-{month}-v{version}-{name}"'},
    )


@router.get("/v1/regions/{region_id}/reports/{month}", summary="A region's month, summed over its schools")
def region(
    region_id: str, month: Month, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> dict[str, Any]:
    """Meals and attendance per day and per school of the region: counts and money, never names."""
    if not (principal.has(Role.REGION, region_id) or principal.has(Role.MINISTRY, None)):
        raise coded_error(403, "not_allowed", accept_language)
    with engine.connect() as conn:
        return region_report(conn, region_id, month)


@router.get("/v1/reports/all/{month}", summary="The country's month, summed over every school")
def country(
    month: Month, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> dict[str, Any]:
    """For the ministry: every school of the deployment."""
    if not principal.has(Role.MINISTRY, None):
        raise coded_error(403, "not_allowed", accept_language)
    with engine.connect() as conn:
        return region_report(conn, None, month)


@router.get("/admin/schools/{school_id}/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, school_id: str, _: SchoolAdmin, engine: EngineDep, lang: str = "ru") -> HTMLResponse:
    """The admin's page: each report with its delivery, its files, and a chart of the newest month's days."""
    with engine.connect() as conn:
        listing = _listing(conn, school_id)
        newest = conn.execute(
            select(reports.c.files).where(reports.c.school_id == school_id, reports.c.kind == "attendance")
            .order_by(reports.c.month.desc(), reports.c.version.desc()).limit(1)
        ).scalar()  # fmt: skip
    days = json.loads(base64.b64decode(newest["attendance.json"]))["days"] if newest else []
    peak = max([d["students"] + d["anonymous"] for d in days] + [1])
    _ = translator(lang)
    return TEMPLATES.TemplateResponse(
        request, "admin_reports.html",
        {"_": _, "lang": _.language, "school_id": school_id, "listing": listing, "days": days, "peak": peak},
    )  # fmt: skip
