"""The education authority's and the ministry's desks in the office: report states, sums, files.

    GET /office/regions/{region}/schools                      its schools, each report's state, the deadline
                                                              (?month=, ?state=, ?q=, ?sort=, ?format=csv|xlsx)
    GET /office/regions/{region}/schools/{school}/reports     a school's issued versions and files (the region's)
    GET /office/regions/{region}/schools/{school}/reports/{month}/{kind}/{version}/{name}   one file
    GET /office/regions/{region}/sums                         the month's sums in tenge, month to month, by school
    GET /office/regions/{region}/sums/{month}/{version}/{name}  a file of the issued region report
    GET /office/country/regions                               the ministry: each region's sums and states counted
    GET /office/country/sums/{month}/{version}/{name}         a file of the issued country report

Who reads what is :mod:`cloud_api.reports.authority`'s to say: the routes only ask it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, select

from cloud_api.api.schemas.reports import FileName
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import schools
from cloud_api.nedb.store import link_of
from cloud_api.reports.authority import (
    STATES,
    MonthSums,
    check_month,
    country_regions,
    may_see_country,
    may_see_region,
    month_sums,
    previous_months,
    region_month,
    school_file,
    school_reports,
)
from cloud_api.reports.build import CATEGORIES
from cloud_api.reports.deadline import DeadlinePolicy
from cloud_api.reports.issue import COUNTRY
from cloud_api.reports.jobs import previous_month
from cloud_api.reports.listing import report_listing
from cloud_api.reports.store import VersionKey, read_file
from cloud_api.services.accounts import Role
from cloud_api.web.account import Me, MeDep
from cloud_api.web.office.console import NavItem, desk_page, engine_of, listing
from cloud_api.web.office.downloads import table_file
from cloud_api.web.pages import page_language
from shared.i18n import Translator, translator
from shared.localtime import local_date

__all__ = ["AuthorityDesk", "CountryDesk", "RegionDesk", "router"]

router = APIRouter(include_in_schema=False)
RegionId = Annotated[str, Path(min_length=1, max_length=64)]
SchoolId = Annotated[str, Path(min_length=1, max_length=64)]
MonthQuery = Annotated[str, Query(max_length=20)]
Format = Annotated[Literal["", "csv", "xlsx"], Query()]
_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SERIES_MONTHS = 12


@dataclass(frozen=True)
class AuthorityDesk:
    """The signed-in authority (a region's staff, or the ministry) at a region's or the country's desk."""

    request: Request
    me: Me
    region_id: str | None  # None: the country's desk
    _: Translator

    @property
    def actor(self) -> str:
        """How the audit journal names the account."""
        return self.me.principal.actor

    @property
    def engine(self) -> Engine:
        """The cloud's database engine."""
        return engine_of(self.request)

    @property
    def base(self) -> str:
        """The address of this desk."""
        return "/office/country" if self.region_id is None else f"/office/regions/{self.region_id}"

    @property
    def label(self) -> str:
        """What the sections bar names the desk by."""
        return self._("Country") if self.region_id is None else self.region_id

    @property
    def ministry(self) -> bool:
        """Whether the account reads as the ministry (sums only) rather than as the region's authority."""
        return self.region_id is None or not self.me.principal.has(Role.REGION, self.region_id)

    def nav(self) -> list[NavItem]:
        """The places of this desk, the current one marked."""
        _ = self._
        here = self.request.url.path
        places = (
            [("/regions", _("Regions")), ("/fleet", _("Gateways"))]
            if self.region_id is None
            else [("/schools", _("Schools")), ("/sums", _("Sums")), ("/fleet", _("Gateways"))]
        )
        if self.region_id is not None:
            places.append(("/alerts", _("Alerts")))
        if self.region_id is not None and self.me.principal.has(Role.REGION, self.region_id):
            places.append(("/integrations", _("Outside systems")))
        items = [NavItem(self.base + p, label, here.startswith(self.base + p)) for p, label in places]
        if self.region_id is not None and self.me.principal.has(Role.MINISTRY, None):
            items.append(NavItem("/office/country/regions", _("Country"), False))
        return items

    def page(self, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The office page ``name`` under ``title``, with this desk's navigation."""
        return desk_page(self, name, title=title, status=status, **context)

    def month(self, asked: str) -> str:
        """The month of the address, checked; the reports' month (the previous one) when none is asked."""
        today = local_date(datetime.now(UTC))
        return check_month(asked, today) if asked else previous_month(today)

    @property
    def policy(self) -> DeadlinePolicy:
        """The deployment's deadline policy."""
        return DeadlinePolicy(self.request.app.state.settings.report_deadline_policy)


def _labels(_: Translator, *months: str) -> dict[str, str]:
    """Each month in words (``октябрь 2026``), as a select and a heading show it."""
    return {m: _.month(date.fromisoformat(f"{m}-01")) for m in months}


def _region_desk(request: Request, me: MeDep, region_id: RegionId) -> AuthorityDesk:
    may_see_region(me.principal, region_id)
    return AuthorityDesk(request, me, region_id, translator(page_language(request)))


def _country_desk(request: Request, me: MeDep) -> AuthorityDesk:
    may_see_country(me.principal)
    return AuthorityDesk(request, me, None, translator(page_language(request)))


def _region_watch_desk(request: Request, me: MeDep, region_id: RegionId) -> AuthorityDesk:
    # The region's gateways and their alerts: its education authority and its IT.
    if not me.principal.has(Role.REGION_IT, region_id):
        may_see_region(me.principal, region_id)
    return AuthorityDesk(request, me, region_id, translator(page_language(request)))


RegionDesk = Annotated[AuthorityDesk, Depends(_region_desk)]
RegionWatchDesk = Annotated[AuthorityDesk, Depends(_region_watch_desk)]
CountryDesk = Annotated[AuthorityDesk, Depends(_country_desk)]


def _state_words(_: Translator) -> dict[str, str]:
    return {
        "acknowledged": _("Acknowledged"),
        "delivered": _("Delivered to some receivers"),
        "issued": _("Issued, not delivered yet"),
        "waiting": _("Waiting for a silent gateway"),
        "not_issued": _("Not issued yet"),
        "late": _("Late"),
        "warned": _("Warned"),
    }


def _months(today: date, chosen: str) -> list[str]:
    """The months a page offers, newest first: the running one, the twelve before, and the one shown."""
    offered = previous_months(today.strftime("%Y-%m"), SERIES_MONTHS + 1)[::-1]
    return offered if chosen in offered else [chosen, *offered]


def _download(data: bytes, filename: str) -> Response:
    kind = filename.rsplit(".", 1)[1]
    return Response(
        data, media_type=_TYPES[kind], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/office/regions/{region_id}/schools", response_class=HTMLResponse)
def region_schools(
    desk: RegionDesk,
    month: MonthQuery = "",
    state: Annotated[Literal["", "acknowledged", "delivered", "issued", "waiting", "not_issued", "late"], Query()] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    format: Format = "",
) -> Response:
    """The region's schools with each report's state for the month, the deadline and the warnings."""
    chosen = desk.month(month)
    today = local_date(datetime.now(UTC))
    with desk.engine.connect() as conn:
        follow = region_month(conn, desk.region_id, chosen, today, desk.policy)
    rows = follow.schools
    needle = q.strip().lower()
    if needle:
        rows = [s for s in rows if needle in s.name.lower() or needle in s.school_id.lower()]
    if state == "late":
        rows = [s for s in rows if s.is_late]
    elif state:
        rows = [s for s in rows if state in s.states.values()]
    place = listing(desk.request, {"month": month, "state": state, "q": q}, ("name", "state", "school"))
    order = {
        "name": lambda s: (s.name.lower(), s.school_id),
        "state": lambda s: (-STATES.index(s.worst), not s.is_late, s.name.lower()),
        "school": lambda s: s.school_id,
    }[place.sort]
    rows = sorted(rows, key=order, reverse=place.descending)
    words = _state_words(desk._)
    if format:
        _ = desk._
        headings = [_("School"), _("Code"), _("Meals report"), _("Attendance report"), _("Late"), _("Warned")]
        cells = (
            [
                s.name,
                s.school_id,
                words[s.states["meals"]],
                words[s.states["attendance"]],
                _("yes") if s.is_late else _("no"),
                _("yes") if s.warned else _("no"),
            ]
            for s in rows
        )
        return table_file(format, f"report-states-{desk.region_id}-{chosen}", headings, cells)
    place = place.counted(len(rows))
    if place.page > place.pages:
        place = place.last_page()
    return desk.page(
        "office/region_schools.html",
        title=desk._("Schools of the region"),
        follow=follow,
        counts=follow.counted(),
        rows=rows[place.offset : place.offset + place.per_page],
        listing=place,
        state_words=words,
        month=chosen,
        state=state,
        q=q,
        months=(months := _months(today, chosen)),
        labels=_labels(desk._, *months),
    )


@router.get("/office/regions/{region_id}/schools/{school_id}/reports", response_class=HTMLResponse)
def school_reports_page(desk: RegionDesk, school_id: SchoolId) -> HTMLResponse:
    """A school's issued reports with their files to download (the region's authority reads them by law)."""
    with desk.engine.connect() as conn:
        versions = school_reports(conn, desk.me.principal, desk.region_id or "", school_id)
        name = _school_name(conn, school_id)
        nedb = link_of(conn, school_id)  # the school's exchange with the NEDB, when it takes part
    return desk.page(
        "office/region_school.html",
        title=desk._("Reports of {school}", school=name),
        versions=versions,
        nedb=nedb,
        labels=_labels(desk._, *{v["month"] for v in versions}),
        school_id=school_id,
        state_words=_state_words(desk._),
    )


def _school_name(conn: Any, school_id: str) -> str:
    return conn.execute(select(schools.c.name).where(schools.c.school_id == school_id)).scalar() or school_id


@router.get("/office/regions/{region_id}/schools/{school_id}/reports/{month}/{kind}/{version}/{name}")
def school_report_file(
    desk: RegionDesk,
    school_id: SchoolId,
    month: Annotated[str, Path(max_length=7)],
    kind: Annotated[Literal["meals", "attendance"], Path()],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    name: FileName,
) -> Response:
    """One file of a school's issued report, byte for byte as signed."""
    with desk.engine.connect() as conn:
        data = school_file(
            conn, desk.me.principal, desk.region_id or "", school_id, VersionKey(school_id, month, kind, version), name
        )
    return _download(data, f"{school_id}-{month}-v{version}-{name}")


def _sums_rows(sums: MonthSums) -> list[dict[str, Any]]:
    rows = []
    for s in sums.schools:
        meals = s["meals"]
        rows.append(
            {
                "school_id": s["school_id"],
                "name": s.get("name", s["school_id"]),
                "students": sum(meals[c]["students"] for c in CATEGORIES),
                "portions": sum(meals[c]["portions"] for c in CATEGORIES),
                "paid_tiyn": sum(meals[c]["paid_tiyn"] for c in CATEGORIES),
                "state_tiyn": sum(meals[c]["state_tiyn"] for c in CATEGORIES),
                "meals": meals,
            }
        )
    return rows


def _series(conn: Any, region_id: str | None, month: str, this: MonthSums, before: MonthSums) -> list[dict[str, Any]]:
    """Twelve months to ``month``: the two compared as shown, the others as issued (None: no version yet;
    summing ten months live would cost each page ten months of rollups)."""
    out = []
    for m in previous_months(month, SERIES_MONTHS):
        sums = this if m == month else before if m == before.month else month_sums(conn, region_id, m, live=False)
        out.append({"month": m, "sums": sums})
    return out


def _sums_page(desk: AuthorityDesk, month: str, format: str) -> Response:
    chosen = desk.month(month)
    earlier = previous_months(chosen, 2)[0]
    subject, kind = (desk.region_id, "region") if desk.region_id else (COUNTRY, "country")
    with desk.engine.connect() as conn:
        this = month_sums(conn, desk.region_id, chosen)
        before = month_sums(conn, desk.region_id, earlier)
        assert this is not None and before is not None
        series = _series(conn, desk.region_id, chosen, this, before)
        versions = [v for v in report_listing(conn, subject or COUNTRY, (kind,)) if v["month"] == chosen]
    rows = _sums_rows(this)
    place = listing(desk.request, {"month": month}, ("name", "state", "students", "portions"))
    key = {
        "name": lambda r: (r["name"].lower(), r["school_id"]),
        "state": lambda r: (r["state_tiyn"], r["name"]),
        "students": lambda r: (r["students"], r["name"]),
        "portions": lambda r: (r["portions"], r["name"]),
    }[place.sort]
    rows.sort(key=key, reverse=place.descending)
    _ = desk._
    if format:
        headings = [
            _("School"),
            _("Code"),
            _("Students fed"),
            _("Portions"),
            _("Paid by families, ₸"),
            _("Owed by the state, ₸"),
        ]
        cells = (
            [r["name"], r["school_id"], r["students"], r["portions"], r["paid_tiyn"] / 100, r["state_tiyn"] / 100]
            for r in rows
        )
        return table_file(format, f"sums-{desk.region_id or COUNTRY}-{chosen}", headings, cells)
    place = place.counted(len(rows))
    if place.page > place.pages:
        place = place.last_page()
    peak_school = max([r["state_tiyn"] for r in rows] + [1])
    peak_month = max([s["sums"].state_tiyn for s in series if s["sums"]] + [1])
    peak_category = max([this.totals[c]["paid_tiyn"] + this.totals[c]["state_tiyn"] for c in CATEGORIES] + [1])
    today = local_date(datetime.now(UTC))
    return desk.page(
        "office/region_sums.html",
        title=_("Sums of the month"),
        month=chosen,
        this=this,
        before=before,
        series=series,
        rows=rows[place.offset : place.offset + place.per_page],
        listing=place,
        peak_school=peak_school,
        peak_month=peak_month,
        peak_category=peak_category,
        categories=CATEGORIES,
        versions=versions,
        months=(months := _months(today, chosen)),
        labels=_labels(desk._, *months, *(s["month"] for s in series), earlier),
    )


@router.get("/office/regions/{region_id}/sums", response_class=HTMLResponse)
def region_sums(desk: RegionDesk, month: MonthQuery = "", format: Format = "") -> Response:
    """The month's sums of the region in tenge: this month against the one before, twelve months, by school."""
    return _sums_page(desk, month, format)


@router.get("/office/regions/{region_id}/sums/{month}/{version}/{name}")
def region_sums_file(
    desk: RegionDesk,
    month: Annotated[str, Path(max_length=7)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    name: FileName,
) -> Response:
    """A file of the issued region report (sums only: the ministry reads it too)."""
    assert desk.region_id is not None
    with desk.engine.connect() as conn:
        data = read_file(conn, VersionKey(desk.region_id, month, "region", version), name)
    if data is None:
        raise DomainError("not_found")
    return _download(data, f"{desk.region_id}-{month}-v{version}-{name}")


@router.get("/office/country/regions", response_class=HTMLResponse)
def country_page(desk: CountryDesk, month: MonthQuery = "", format: Format = "") -> Response:
    """For the ministry: each region's sums and its schools' report states counted; the country's total."""
    chosen = desk.month(month)
    today = local_date(datetime.now(UTC))
    with desk.engine.connect() as conn:
        rows, sums = country_regions(conn, chosen, today, desk.policy)
        versions = [v for v in report_listing(conn, COUNTRY, ("country",)) if v["month"] == chosen]
    for r in rows:
        r["students"] = sum(r["totals"][c]["students"] for c in CATEGORIES)
        r["portions"] = sum(r["totals"][c]["portions"] for c in CATEGORIES)
        r["paid_tiyn"] = sum(r["totals"][c]["paid_tiyn"] for c in CATEGORIES)
        r["state_tiyn"] = sum(r["totals"][c]["state_tiyn"] for c in CATEGORIES)
    _ = desk._
    words = _state_words(_)
    if format:
        headings = [
            _("Region"),
            _("Schools"),
            _("Students fed"),
            _("Portions"),
            _("Paid by families, ₸"),
            _("Owed by the state, ₸"),
            *(words[s] for s in (*STATES, "late")),
        ]
        cells = (
            [
                r["region_id"],
                r["schools"],
                r["students"],
                r["portions"],
                r["paid_tiyn"] / 100,
                r["state_tiyn"] / 100,
                *(r["counts"][s] for s in (*STATES, "late")),
            ]
            for r in rows
        )
        return table_file(format, f"regions-{chosen}", headings, cells)
    place = listing(desk.request, {"month": month}, ("region",), per_page=100).counted(len(rows))
    return desk.page(
        "office/country.html",
        title=_("Regions of the country"),
        month=chosen,
        rows=rows,
        sums=sums,
        listing=place,
        state_words=words,
        states=STATES,
        peak=max([r["state_tiyn"] for r in rows] + [1]),
        versions=versions,
        months=(months := _months(today, chosen)),
        labels=_labels(desk._, *months),
    )


@router.get("/office/country/sums/{month}/{version}/{name}")
def country_sums_file(
    desk: CountryDesk,
    month: Annotated[str, Path(max_length=7)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    name: FileName,
) -> Response:
    """A file of the issued country report."""
    with desk.engine.connect() as conn:
        data = read_file(conn, VersionKey(COUNTRY, month, "country", version), name)
    if data is None:
        raise DomainError("not_found")
    return _download(data, f"{COUNTRY}-{month}-v{version}-{name}")
