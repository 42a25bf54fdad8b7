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
(the school administrator reads the same as a page in the office: cloud_api.web.office.reports)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from cloud_api.api.deps import CurrentAccount, EngineDep, SchoolAdmin, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.reports import FileName, Month, ReportVersion, SubjectReports
from cloud_api.core.errors import DomainError
from cloud_api.core.security_events import record_personal_export
from cloud_api.reports.issue import COUNTRY, KINDS
from cloud_api.reports.listing import report_listing, report_warnings_of
from cloud_api.reports.models import report_schema
from cloud_api.reports.region import region_report
from cloud_api.reports.store import VersionKey, read_file
from cloud_api.services.accounts import Principal, Role
from cloud_api.web.pages import TEMPLATES as PAGES

__all__ = ["router"]

router = APIRouter(tags=["reports"])
_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FILE = {
    200: {
        "description": "The file, byte for byte as signed in its version's manifest",
        "content": {t.split(";")[0]: {"schema": {"type": "string", "format": "binary"}} for t in _TYPES.values()},
    },
    **refusals("not_found"),
}
RegionPath = Annotated[str, Path(min_length=1, max_length=64, examples=["almaty"])]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
TEMPLATES: Jinja2Templates = PAGES


@router.get("/v1/reports/schema", summary="The JSON Schema of the report files")
def schema() -> dict[str, Any]:
    """What ``meals.json`` and ``attendance.json`` hold."""
    return report_schema()


def _file(subject: str, month: str, kind: str, version: int, name: str, engine: Engine) -> Response:
    with engine.connect() as conn:
        data = read_file(conn, VersionKey(subject, month, kind, version), name)
    if data is None:
        raise DomainError("not_found")
    return Response(
        data,
        media_type=_TYPES[name.rsplit(".", 1)[1]],
        headers={"Content-Disposition": f'attachment; filename="{subject}-{month}-v{version}-{name}"'},
    )


@router.get(
    "/v1/schools/{school_id}/reports",
    response_model=list[ReportVersion],
    summary="The school's reports and their delivery",
)
def list_reports(school_id: SchoolPath, _: SchoolAdmin, engine: EngineDep) -> list[dict[str, Any]]:
    """Every version of every month's report, newest first, with each receiver's receipt state."""
    with engine.connect() as conn:
        return report_listing(conn, school_id, KINDS)


@router.get(
    "/v1/schools/{school_id}/reports/{month}/{kind}/{version}/{name}",
    response_class=Response,
    summary="Download a report file",
    responses=_FILE,
)
def download(
    school_id: SchoolPath,
    month: Month,
    kind: Annotated[Literal["meals", "attendance"], Path()],
    version: Version,
    name: FileName,
    principal: SchoolAdmin,
    engine: EngineDep,
) -> Response:
    """One file of one version, byte for byte as signed in its manifest."""
    answer = _file(school_id, month, kind, version, name, engine)
    # A school's report names its pupils (the meals, the attendance): a download of personal data.
    record_personal_export(
        principal.actor, school_id, f"report-{school_id}-{month}-{kind}-v{version}-{name}", name.rsplit(".", 1)[1]
    )
    return answer


def _may_see_region(principal: Principal, region_id: str) -> None:
    if not (principal.has(Role.REGION, region_id) or principal.has(Role.MINISTRY, None)):
        raise DomainError("not_allowed")


def _may_see_country(principal: Principal) -> None:
    if not principal.has(Role.MINISTRY, None):
        raise DomainError("not_allowed")


@router.get(
    "/v1/regions/{region_id}/reports",
    response_model=SubjectReports,
    summary="The region's issued sums and the warnings",
)
def region_reports(region_id: RegionPath, principal: CurrentAccount, engine: EngineDep) -> dict[str, Any]:
    """The region's versions with their deliveries, and every warning of the region and its schools."""
    _may_see_region(principal, region_id)
    with engine.connect() as conn:
        return {
            "reports": report_listing(conn, region_id, ("region",)),
            "warnings": report_warnings_of(conn, region_id),
        }


@router.get(
    "/v1/regions/{region_id}/reports/{month}/{version}/{name}",
    response_class=Response,
    summary="Download a region's report file",
    responses=_FILE,
)
def region_download(
    region_id: RegionPath, month: Month, version: Version, name: FileName, principal: CurrentAccount, engine: EngineDep
) -> Response:
    """One file of one version of the region's sums, byte for byte as signed."""
    _may_see_region(principal, region_id)
    return _file(region_id, month, "region", version, name, engine)


@router.get("/v1/country/reports", response_model=SubjectReports, summary="The country's issued sums and every warning")
def country_reports(principal: CurrentAccount, engine: EngineDep) -> dict[str, Any]:
    """For the ministry: the country's versions with their deliveries, and every warning raised."""
    _may_see_country(principal)
    with engine.connect() as conn:
        return {"reports": report_listing(conn, COUNTRY, ("country",)), "warnings": report_warnings_of(conn, None)}


@router.get(
    "/v1/country/reports/{month}/{version}/{name}",
    response_class=Response,
    summary="Download a country report file",
    responses=_FILE,
)
def country_download(
    month: Month, version: Version, name: FileName, principal: CurrentAccount, engine: EngineDep
) -> Response:
    """One file of one version of the country's sums."""
    _may_see_country(principal)
    return _file(COUNTRY, month, "country", version, name, engine)


@router.get("/v1/regions/{region_id}/reports/{month}", summary="A region's month, summed over its schools")
def region(region_id: RegionPath, month: Month, principal: CurrentAccount, engine: EngineDep) -> dict[str, Any]:
    """Meals and attendance per day and per school of the region: counts and money, never names."""
    _may_see_region(principal, region_id)
    with engine.connect() as conn:
        return region_report(conn, region_id, month)


@router.get("/v1/reports/all/{month}", summary="The country's month, summed over every school")
def country(month: Month, principal: CurrentAccount, engine: EngineDep) -> dict[str, Any]:
    """For the ministry: every school of the deployment."""
    _may_see_country(principal)
    with engine.connect() as conn:
        return region_report(conn, None, month)
