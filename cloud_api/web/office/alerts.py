"""The alerts in the office: the open ones first, then the recent, each acknowledged by a person.

    GET  /office/schools/{school}/alerts                              the school's (its administrators, its IT)
    POST /office/schools/{school}/alerts/{alert}/acknowledge          "I have seen it": who and when are kept
    GET  /office/regions/{region}/alerts                              the region's schools' (its authority, its IT)
    POST /office/regions/{region}/alerts/{school}/{alert}/acknowledge
    GET  /office/deployment/alerts                                    the deployment's own (queues, database)
    POST /office/deployment/alerts/{alert}/acknowledge

An acknowledgement tells nobody; the alert still resolves by itself when its condition ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from cloud_api.alerts.notify import QUEUE_WORDS, fleet_path
from cloud_api.alerts.rules import DEPLOYMENT
from cloud_api.alerts.store import Alert, acknowledge, alerts_of_region, alerts_of_school
from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import schools
from cloud_api.services.accounts import logins_of
from cloud_api.web.account import Me
from cloud_api.web.office.authority import RegionWatchDesk
from cloud_api.web.office.console import WatchDesk, back
from cloud_api.web.office.deployment import Desk as DeploymentDeskDep

__all__ = ["RULE_TITLES", "router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
SchoolId = Annotated[str, Path(min_length=1, max_length=64)]
RegionId = Annotated[str, Path(min_length=1, max_length=64)]
# The catalog's words for each rule, as a page names it.
RULE_TITLES = {
    "gateway_silent": "The gateway is silent",
    "reader_offline": "A reader is offline",
    "disk_low": "The disk of the gateway is nearly full",
    "backlog_old": "Events wait over an hour to reach the cloud",
    "clock_offset": "The clock of the gateway is wrong",
    "queue_stuck": "A delivery queue is not moving",
    "database_down": "The database does not answer",
}


def _rows(desk: Any, listed: list[Alert], names: dict[str, str], ack_base: str) -> HTMLResponse:
    with desk.engine.connect() as conn:
        who = logins_of(conn, [a.acknowledged_by for a in listed if a.acknowledged_by is not None])
    return desk.page(
        "office/alerts.html",
        title=desk._("Alerts"),
        alerts=listed,
        titles=RULE_TITLES,
        who=who,
        names=names,
        ack_base=ack_base,
        open_count=sum(1 for a in listed if a.state == "open"),
        fleet=fleet_path,
        queues=QUEUE_WORDS,
    )


def _me_id(me: Me) -> UUID:
    account = me.principal.account
    if account is None:
        raise DomainError("not_allowed")
    return account.id


def _acknowledged(url: str, done: bool) -> RedirectResponse:
    return back(f"{url}?done={'alert_acknowledged' if done else 'alert_already_acknowledged'}")


@router.get("/office/schools/{school_id}/alerts", response_class=HTMLResponse)
def school_alerts(desk: WatchDesk) -> HTMLResponse:
    """The school's alerts."""
    with desk.engine.connect() as conn:
        listed = alerts_of_school(conn, desk.school_id, datetime.now(UTC))
    return _rows(desk, listed, {}, f"{desk.base}/alerts")


@router.post("/office/schools/{school_id}/alerts/{alert_id}/acknowledge", dependencies=_checked)
def school_acknowledge(desk: WatchDesk, alert_id: UUID) -> RedirectResponse:
    """Acknowledge one of the school's alerts."""
    with desk.engine.begin() as conn:
        done = acknowledge(conn, desk.school_id, alert_id, _me_id(desk.me), datetime.now(UTC))
    return _acknowledged(f"{desk.base}/alerts", done)


@router.get("/office/regions/{region_id}/alerts", response_class=HTMLResponse)
def region_alerts(desk: RegionWatchDesk) -> HTMLResponse:
    """The alerts of the region's schools, each with its school."""
    assert desk.region_id is not None
    with desk.engine.connect() as conn:
        listed = alerts_of_region(conn, desk.region_id, datetime.now(UTC))
        names = dict(
            conn.execute(select(schools.c.school_id, schools.c.name).where(schools.c.region_id == desk.region_id)).all()
        )
    return _rows(desk, listed, names, f"{desk.base}/alerts")


@router.post("/office/regions/{region_id}/alerts/{school_id}/{alert_id}/acknowledge", dependencies=_checked)
def region_acknowledge(desk: RegionWatchDesk, school_id: SchoolId, alert_id: UUID) -> RedirectResponse:
    """Acknowledge an alert of one of the region's schools."""
    with desk.engine.begin() as conn:
        region = conn.execute(select(schools.c.region_id).where(schools.c.school_id == school_id)).scalar()
        if region != desk.region_id:
            raise DomainError("not_allowed")
        done = acknowledge(conn, school_id, alert_id, _me_id(desk.me), datetime.now(UTC))
    return _acknowledged(f"{desk.base}/alerts", done)


@router.get("/office/deployment/alerts", response_class=HTMLResponse)
def deployment_alerts(desk: DeploymentDeskDep) -> HTMLResponse:
    """The deployment's own alerts: its delivery queues and its database."""
    with desk.engine.connect() as conn:
        listed = alerts_of_school(conn, DEPLOYMENT, datetime.now(UTC))
    return _rows(desk, listed, {}, f"{desk.base}/alerts")


@router.post("/office/deployment/alerts/{alert_id}/acknowledge", dependencies=_checked)
def deployment_acknowledge(desk: DeploymentDeskDep, alert_id: UUID) -> RedirectResponse:
    """Acknowledge one of the deployment's alerts."""
    with desk.engine.begin() as conn:
        done = acknowledge(conn, DEPLOYMENT, alert_id, _me_id(desk.me), datetime.now(UTC))
    return _acknowledged(f"{desk.base}/alerts", done)
