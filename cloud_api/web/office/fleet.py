"""The fleet in the office: a school's gateways and readers, and every gateway of a region or the deployment.

    GET /office/fleet                               on to the fleet page of the account's desk (a link
                                                    that fits everyone, as a notice's)
    GET /office/schools/{school}/fleet              the school's gateways now and over the last day
    GET /office/regions/{region}/fleet              the region's gateways, what is wrong first
                                                    (?state=, ?q=, ?sort=, ?desc=, ?page=, ?format=csv|xlsx)
    GET /office/regions/{region}/fleet/{school}     one of its schools' fleet page
    GET /office/country/fleet[/{school}]            the same for the ministry, every region
    GET /office/deployment/fleet[/{school}]         the same for the deployment's administrator
                                                    (and ``?format=json``, the list as data)

The states are :mod:`cloud_api.services.fleet`'s, judged as the page is read. Alerts (who is told,
acknowledging them) live at ``/office/alerts``; these pages link there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import schools
from cloud_api.services.accounts import Role
from cloud_api.services.fleet import PROBLEMS, GatewayState, count_states, fleet_states, gateway_day, sort_states
from cloud_api.web.account import MeDep
from cloud_api.web.office.authority import CountryDesk, RegionWatchDesk
from cloud_api.web.office.console import WatchDesk, listing
from cloud_api.web.office.deployment import Desk as DeploymentDesk
from cloud_api.web.office.downloads import table_file
from cloud_api.web.office.fleet_words import FleetWords

__all__ = ["ALERTS_PATH", "router"]

router = APIRouter(include_in_schema=False)
SchoolId = Annotated[str, Path(min_length=1, max_length=64)]
StateQuery = Annotated[Literal["", "ok", "problem", *PROBLEMS], Query()]  # type: ignore[valid-type]
Format = Annotated[Literal["", "csv", "xlsx", "json"], Query()]
ALERTS_PATH = "/office/alerts"
SORTS = ("problem", "contact", "backlog", "disk", "version", "school")
PER_PAGE = 100


def _school_page(desk: Any, school_id: str, *, back: str | None) -> HTMLResponse:
    now = datetime.now(UTC)
    with desk.engine.connect() as conn:
        name = conn.execute(select(schools.c.name).where(schools.c.school_id == school_id)).scalar()
        states = sort_states(fleet_states(conn, now, school_id=school_id), "school")
        days = {s.gateway_id: gateway_day(conn, school_id, s.gateway_id, now) for s in states}
    words = FleetWords(desk._)
    return desk.page(
        "office/fleet_school.html",
        title=desk._("Gateway and readers"),
        school_name=name or school_id,
        school_id=school_id,
        states=states,
        days=days,
        # A full hour is the fullest hour of the day (sixty at the gateways' default of a heartbeat a minute).
        peak=max([1, *(h.beats for day in days.values() for h in day)]),
        now=now,
        fw=words,
        back=back,
        alerts=ALERTS_PATH,
    )


@router.get("/office/fleet")
def my_fleet(me: MeDep) -> RedirectResponse:
    """The fleet page of the account's widest desk: the deployment's, the country's, its region's or its school's."""
    grants = sorted(me.principal.grants, key=lambda g: (g.role.value, g.scope or ""))
    scoped = {role: [g.scope for g in grants if g.role is role and g.scope] for role in Role}
    if me.principal.has(Role.DEPLOYMENT_ADMIN, None):
        target = "/office/deployment/fleet"
    elif me.principal.has(Role.MINISTRY, None):
        target = "/office/country/fleet"
    elif regions := scoped[Role.REGION] + scoped[Role.REGION_IT]:
        target = f"/office/regions/{regions[0]}/fleet"
    elif school := scoped[Role.SCHOOL_ADMIN] + scoped[Role.SCHOOL_IT]:
        target = f"/office/schools/{school[0]}/fleet"
    else:
        raise DomainError("not_allowed")
    return RedirectResponse(target, status_code=303)


@router.get("/office/schools/{school_id}/fleet", response_class=HTMLResponse)
def school_fleet(desk: WatchDesk) -> HTMLResponse:
    """The school's gateways and readers now, and their last day hour by hour."""
    return _school_page(desk, desk.school_id, back=None)


def _filtered(states: list[GatewayState], state: str, q: str) -> list[GatewayState]:
    if state == "problem":
        states = [s for s in states if s.problems]
    elif state:
        states = [s for s in states if s.worst == state]
    needle = q.strip().lower()
    if needle:
        states = [
            s
            for s in states
            if needle in s.school_name.lower() or needle in s.school_id.lower() or needle in s.gateway_id.lower()
        ]
    return states


def _json_row(s: GatewayState, words: FleetWords, now: datetime) -> dict[str, Any]:
    contact = s.last_contact
    return {
        "school_id": s.school_id,
        "school_name": s.school_name,
        "region_id": s.region_id,
        "gateway_id": s.gateway_id,
        "state": s.worst,
        "problems": list(s.problems),
        "last_contact": contact.isoformat() if contact else None,
        "seconds_since_contact": round((now - contact).total_seconds(), 1) if contact else None,
        "outbox_pending": s.figure("outbox_pending"),
        "oldest_pending_age_s": s.figure("oldest_pending_age_s"),
        "disk_free_bytes": s.figure("disk_free_bytes"),
        "disk_free_ratio": s.figure("disk_free_ratio"),
        "clock_offset_s": s.clock_offset_s,
        "version": s.figure("version"),
        "uptime_s": s.figure("uptime_s"),
        "readers": dict(s.readers),
    }


def _list_page(desk: Any, region_id: str | None, state: str, q: str, format: str) -> Response:
    now = datetime.now(UTC)
    with desk.engine.connect() as conn:
        every = fleet_states(conn, now, region_id=region_id)
    counts = count_states(every)
    place = listing(desk.request, {"state": state, "q": q}, SORTS, per_page=PER_PAGE)
    rows = sort_states(_filtered(every, state, q), place.sort, place.descending)
    words = FleetWords(desk._)
    _ = desk._
    if format == "json":
        return JSONResponse(
            {
                "as_of": now.isoformat(),
                "counts": counts,
                "total": len(rows),
                "gateways": [_json_row(s, words, now) for s in rows],
            }
        )
    if format:
        headings = [
            _("School"),
            _("Code"),
            _("Region"),
            _("Gateway"),
            _("State"),
            _("Last contact"),
            _("Records waiting to be sent"),
            _("Oldest waiting, minutes"),
            _("Free disk, %"),
            _("Version"),
        ]
        cells = (
            [
                s.school_name,
                s.school_id,
                s.region_id or "",
                s.gateway_id,
                "; ".join(words.problem[p] for p in s.problems) or words.problem["ok"],
                s.last_contact,
                s.figure("outbox_pending"),
                round(s.figure("oldest_pending_age_s") / 60) if s.figure("oldest_pending_age_s") is not None else None,
                round(s.figure("disk_free_ratio") * 100) if s.figure("disk_free_ratio") is not None else None,
                s.figure("version"),
            ]
            for s in rows
        )
        return table_file(format, f"gateways-{region_id or 'all'}", headings, cells)
    place = place.counted(len(rows))
    if place.page > place.pages:
        place = place.last_page()
    return desk.page(
        "office/fleet_list.html",
        title=_("Gateways of the region") if region_id else _("Gateways of every school"),
        rows=rows[place.offset : place.offset + place.per_page],
        listing=place,
        counts=counts,
        total=len(every),
        state=state,
        q=q,
        states=(*PROBLEMS, "ok"),
        state_options=[("", _("any")), ("problem", _("any problem"))]
        + [(p, words.problem[p]) for p in (*PROBLEMS, "ok")],
        now=now,
        fw=words,
        json_twin=format == "" and desk.base == "/office/deployment",
        alerts=ALERTS_PATH,
    )


@router.get("/office/regions/{region_id}/fleet", response_class=HTMLResponse)
def region_fleet(
    desk: RegionWatchDesk, state: StateQuery = "", q: Annotated[str, Query(max_length=100)] = "", format: Format = ""
) -> Response:
    """The region's gateways, what is wrong first: last contact, backlog, disk, version."""
    return _list_page(desk, desk.region_id, state, q, format)


@router.get("/office/regions/{region_id}/fleet/{school_id}", response_class=HTMLResponse)
def region_school_fleet(desk: RegionWatchDesk, school_id: SchoolId) -> HTMLResponse:
    """One school of the region: its gateways and readers, as the school's IT contact sees them."""
    with desk.engine.connect() as conn:
        region = conn.execute(select(schools.c.region_id).where(schools.c.school_id == school_id)).scalar()
    if region != desk.region_id:
        raise DomainError("not_found")
    return _school_page(desk, school_id, back=f"{desk.base}/fleet")


@router.get("/office/country/fleet", response_class=HTMLResponse)
def country_fleet(
    desk: CountryDesk, state: StateQuery = "", q: Annotated[str, Query(max_length=100)] = "", format: Format = ""
) -> Response:
    """For the ministry: every gateway of the country, what is wrong first."""
    return _list_page(desk, None, state, q, format)


@router.get("/office/country/fleet/{school_id}", response_class=HTMLResponse)
def country_school_fleet(desk: CountryDesk, school_id: SchoolId) -> HTMLResponse:
    """One school's gateways and readers, for the ministry."""
    return _school_page(desk, school_id, back=f"{desk.base}/fleet")


@router.get("/office/deployment/fleet", response_model=None)
def deployment_fleet(
    desk: DeploymentDesk, state: StateQuery = "", q: Annotated[str, Query(max_length=100)] = "", format: Format = ""
) -> Response:
    """Every gateway of the deployment, what is wrong first; ``?format=json`` for the same list as data."""
    return _list_page(desk, None, state, q, format)


@router.get("/office/deployment/fleet/{school_id}", response_class=HTMLResponse)
def deployment_school_fleet(desk: DeploymentDesk, school_id: SchoolId) -> HTMLResponse:
    """One school's gateways and readers, for the deployment's administrator."""
    return _school_page(desk, school_id, back=f"{desk.base}/fleet")
