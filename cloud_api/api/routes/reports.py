"""The monthly reports over HTTP: the school admin's list and downloads, a region's and the country's sums.

GET /v1/reports/schema                                      the JSON Schema of the report files
GET /v1/schools/{school_id}/reports                         school_admin: versions, deliveries, warnings
GET /v1/schools/{school_id}/reports/{month}/{kind}/{version}/{name}   school_admin: one file
GET /v1/regions/{region_id}/reports                         region or ministry: the region's issued sums, and
                                                            the warnings of the region and of its schools
GET /v1/regions/{region_id}/reports/{month}/{version}/{name}  region or ministry: one file of the sums
GET /v1/regions/{region_id}/reports/{month}                 region or ministry: the sums as of now (live)
GET /v1/country/reports                                     ministry: the country's issued sums, every warning
GET /v1/country/reports/{month}/{version}/{name}            ministry: one file
GET /v1/reports/all/{month}                                 ministry: every school's sums as of now (live)
GET /admin/schools/{school_id}/reports                      school_admin: the same as a page, with a chart
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, select

from cloud_api.api.deps import AcceptLanguage, CurrentAccount, EngineDep, SchoolAdmin
from cloud_api.api.errors import coded_error
from cloud_api.db.schema import report_deliveries, report_warnings, reports, schools
from cloud_api.reports.issue import COUNTRY, KINDS
from cloud_api.reports.models import report_schema
from cloud_api.reports.region import region_report
from cloud_api.reports.store import VersionKey, file_names, read_file
from cloud_api.services.accounts import Role
from cloud_api.web.parent import TEMPLATES as PAGES
from shared.i18n import translator

__all__ = ["router"]

router = APIRouter(tags=["reports"])
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TEMPLATES: Jinja2Templates = PAGES


@router.get("/v1/reports/schema", summary="The JSON Schema of the report files")
def schema() -> dict[str, Any]:
    """What ``meals.json`` and ``attendance.json`` hold."""
    return report_schema()


def _listing(conn: Connection, subject: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every version of the subject's reports of ``kinds``, newest first, with its deliveries."""
    deliveries: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for d in conn.execute(
        select(report_deliveries).where(report_deliveries.c.subject == subject, report_deliveries.c.kind.in_(kinds))
    ):
        deliveries.setdefault((d.month, d.kind, d.version), []).append(
            {
                "receiver": d.receiver,
                "state": d.state,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at,
                "last_error": d.last_error,
            }
        )
    w = report_warnings.c
    raised = conn.execute(select(report_warnings).where(w.subject == subject, w.kind.in_(kinds)))
    warned = {(r.month, r.kind): r.raised_at for r in raised}
    names = file_names(conn, subject, kinds)
    rows = conn.execute(
        select(
            reports.c.month,
            reports.c.kind,
            reports.c.version,
            reports.c.created_at,
            reports.c.changes,
            reports.c.missing_gateways,
        )
        .where(reports.c.subject == subject, reports.c.kind.in_(kinds))
        .order_by(reports.c.month.desc(), reports.c.kind, reports.c.version.desc())
    )
    return [
        {
            "month": r.month,
            "kind": r.kind,
            "version": r.version,
            "created_at": r.created_at,
            "changes": r.changes,
            "missing_gateways": r.missing_gateways,
            "files": names.get(VersionKey(subject, r.month, r.kind, r.version), []),
            "deliveries": deliveries.get((r.month, r.kind, r.version), []),
            "warned_at": warned.get((r.month, r.kind)),
        }
        for r in rows
    ]


def _warnings(conn: Connection, region_id: str | None) -> list[dict[str, Any]]:
    """Reports still unacknowledged on their warning day: of the region and its schools (None: all)."""
    query = select(report_warnings).order_by(
        report_warnings.c.month.desc(), report_warnings.c.subject, report_warnings.c.kind
    )
    if region_id is not None:
        members = select(schools.c.school_id).where(schools.c.region_id == region_id)
        query = query.where(
            (report_warnings.c.kind.in_(KINDS) & report_warnings.c.subject.in_(members))
            | ((report_warnings.c.kind == "region") & (report_warnings.c.subject == region_id))
        )
    return [
        {
            "subject": w.subject,
            "month": w.month,
            "kind": w.kind,
            "deadline": w.deadline,
            "raised_at": w.raised_at,
            "receivers": w.receivers,
        }
        for w in conn.execute(query)
    ]


def _file(subject: str, month: str, kind: str, version: int, name: str, engine: Any) -> Response:
    with engine.connect() as conn:
        data = read_file(conn, VersionKey(subject, month, kind, version), name)
    if data is None:
        raise HTTPException(404)
    return Response(
        data,
        media_type=_TYPES[name.rsplit(".", 1)[1]],
        headers={"Content-Disposition": f'attachment; filename="{subject}-{month}-v{version}-{name}"'},
    )


@router.get("/v1/schools/{school_id}/reports", summary="The school's reports and their delivery")
def list_reports(school_id: str, _: SchoolAdmin, engine: EngineDep) -> list[dict[str, Any]]:
    """Every version of every month's report, newest first, with each receiver's receipt state."""
    with engine.connect() as conn:
        return _listing(conn, school_id, KINDS)


FileName = Annotated[str, Path(pattern=r"^[a-z-]+\.(json|csv|xlsx)$")]


@router.get("/v1/schools/{school_id}/reports/{month}/{kind}/{version}/{name}", summary="Download a report file")
def download(
    school_id: str,
    month: Month,
    kind: Annotated[str, Path(pattern="^(meals|attendance)$")],
    version: int,
    name: FileName,
    _: SchoolAdmin,
    engine: EngineDep,
) -> Response:
    """One file of one version, byte for byte as signed in its manifest."""
    return _file(school_id, month, kind, version, name, engine)


def _may_see_region(principal: Any, region_id: str, accept_language: str | None) -> None:
    if not (principal.has(Role.REGION, region_id) or principal.has(Role.MINISTRY, None)):
        raise coded_error(403, "not_allowed", accept_language)


def _may_see_country(principal: Any, accept_language: str | None) -> None:
    if not principal.has(Role.MINISTRY, None):
        raise coded_error(403, "not_allowed", accept_language)


@router.get("/v1/regions/{region_id}/reports", summary="The region's issued sums and the warnings")
def region_reports(
    region_id: str, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> dict[str, Any]:
    """The region's versions with their deliveries, and every warning of the region and its schools."""
    _may_see_region(principal, region_id, accept_language)
    with engine.connect() as conn:
        return {"reports": _listing(conn, region_id, ("region",)), "warnings": _warnings(conn, region_id)}


@router.get("/v1/regions/{region_id}/reports/{month}/{version}/{name}", summary="Download a region's report file")
def region_download(
    region_id: str,
    month: Month,
    version: int,
    name: FileName,
    principal: CurrentAccount,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Response:
    """One file of one version of the region's sums, byte for byte as signed."""
    _may_see_region(principal, region_id, accept_language)
    return _file(region_id, month, "region", version, name, engine)


@router.get("/v1/country/reports", summary="The country's issued sums and every warning")
def country_reports(principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None) -> Any:
    """For the ministry: the country's versions with their deliveries, and every warning raised."""
    _may_see_country(principal, accept_language)
    with engine.connect() as conn:
        return {"reports": _listing(conn, COUNTRY, ("country",)), "warnings": _warnings(conn, None)}


@router.get("/v1/country/reports/{month}/{version}/{name}", summary="Download a country report file")
def country_download(
    month: Month,
    version: int,
    name: FileName,
    principal: CurrentAccount,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Response:
    """One file of one version of the country's sums."""
    _may_see_country(principal, accept_language)
    return _file(COUNTRY, month, "country", version, name, engine)


@router.get("/v1/regions/{region_id}/reports/{month}", summary="A region's month, summed over its schools")
def region(
    region_id: str, month: Month, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> dict[str, Any]:
    """Meals and attendance per day and per school of the region: counts and money, never names."""
    _may_see_region(principal, region_id, accept_language)
    with engine.connect() as conn:
        return region_report(conn, region_id, month)


@router.get("/v1/reports/all/{month}", summary="The country's month, summed over every school")
def country(
    month: Month, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> dict[str, Any]:
    """For the ministry: every school of the deployment."""
    _may_see_country(principal, accept_language)
    with engine.connect() as conn:
        return region_report(conn, None, month)


@router.get("/admin/schools/{school_id}/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, school_id: str, _: SchoolAdmin, engine: EngineDep, lang: str = "ru") -> HTMLResponse:
    """The admin's page: each report with its delivery, its files, and a chart of the newest month's days."""
    with engine.connect() as conn:
        listing = _listing(conn, school_id, KINDS)
        newest = conn.execute(
            select(reports.c.month, reports.c.version)
            .where(reports.c.subject == school_id, reports.c.kind == "attendance")
            .order_by(reports.c.month.desc(), reports.c.version.desc())
            .limit(1)
        ).first()
        key = VersionKey(school_id, newest.month, "attendance", newest.version) if newest else None
        data = read_file(conn, key, "attendance.json") if key else None
    days = orjson.loads(data)["days"] if data else []
    peak = max([d["students"] + d["anonymous"] for d in days] + [1])
    _ = translator(lang)
    return TEMPLATES.TemplateResponse(
        request,
        "admin_reports.html",
        {
            "_": _,
            "lang": _.language,
            "school_id": school_id,
            "listing": listing,
            "days": days,
            "peak": peak,
            "chart_month": newest.month if newest else "",
        },
    )
