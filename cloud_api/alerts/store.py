"""Evaluating the rules, and the alerts kept. The caller owns the transaction.

One evaluation round (:func:`evaluate`) reads every gateway's latest figures in one query over
``gateway_health``, the delivery queues in one query each, and the alerts not yet resolved in one
query; it writes only what changes (a condition seen for the first time, an alert opening, clearing
or resolving). Hysteresis, per (school, rule, subject):

    condition seen, no row             a ``pending`` row (``since``: when it started to hold), or at
                                       once ``open`` when the figures say it has held for the window
    pending, condition holds           ``open`` once ``now - since`` reaches the window (told)
    pending, condition clear           the row is deleted: it never was an alert
    open, condition clear              ``clear_since`` set; ``resolved`` once clear for the clear
                                       window (told); the condition again before that: cleared back
    school-hours rule out of hours     a pending row is deleted; an open alert stays open while its
                                       condition holds (a night does not resolve a dead gateway)

An alert to tell (``tell``: opened or resolved) is told by :mod:`cloud_api.alerts.notify` after the
round commits. Acknowledging keeps who and when, and tells nobody.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, select, update

from cloud_api.alerts.rules import DEPLOYMENT, RULES, DeploymentFigures, Finding, QueueState, in_school_hours
from cloud_api.alerts.rules import school_day_start as _school_day_start
from cloud_api.db.schema import alerts, gateway_health, schools
from cloud_api.services.process_health import queue_figures

__all__ = [
    "RECENT",
    "Alert",
    "Changes",
    "acknowledge",
    "alerts_of_region",
    "alerts_of_school",
    "deployment_figures",
    "evaluate",
    "record_outage",
    "set_told",
    "to_tell",
]

RECENT = timedelta(days=30)  # how far back a page lists the resolved alerts
RECENT_ROWS = 100
_HEALTH = (
    gateway_health.c.school_id,
    gateway_health.c.gateway_id,
    gateway_health.c.received_at,
    gateway_health.c.clock_offset_s,
    gateway_health.c.reported_clock_offset_s,
    gateway_health.c.disk_free_ratio,
    gateway_health.c.oldest_pending_age_s,
    gateway_health.c.parts,
)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as a page shows it and a notice tells it."""

    school_id: str
    id: UUID
    rule: str
    subject: str
    gateway_id: str | None
    state: str
    since: datetime
    opened_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    value: float | None
    tell: str | None


@dataclass
class Changes:
    """What one round changed, counted (for the log and the tests)."""

    pending: int = 0
    opened: list[tuple[str, str, str]] = field(default_factory=list)  # (school, rule, subject)
    resolved: list[tuple[str, str, str]] = field(default_factory=list)
    gateways: int = 0


def deployment_figures(conn: Connection) -> DeploymentFigures:
    """The queues as they stand (the database answered: it is up)."""
    return DeploymentFigures(True, tuple(QueueState(q.queue, q.pending, q.oldest) for q in queue_figures(conn)))


def _alert(row: Any) -> Alert:
    return Alert(**{name: row._mapping[name] for name in Alert.__slots__})


def evaluate(conn: Connection, now: datetime, figures: DeploymentFigures) -> Changes:
    """One round of every rule over every gateway and the deployment; writes the alerts' changes."""
    changes = Changes()
    seen: dict[tuple[str, str, str], tuple[Finding, str | None]] = {}
    decided: set[tuple[str, str, str | None]] = set()  # (rule, school, gateway) whose condition could tell
    gateway_rules = [r for r in RULES.values() if r.scope == "gateway"]
    for g in conn.execute(select(*_HEALTH)).mappings():
        changes.gateways += 1
        for rule in gateway_rules:
            found = rule.condition(g, now)
            if found is None:
                continue
            decided.add((rule.name, g["school_id"], g["gateway_id"]))
            for f in found:
                seen[(g["school_id"], rule.name, f.subject)] = (f, g["gateway_id"])
    for rule in RULES.values():
        if rule.scope == "deployment":
            decided.add((rule.name, DEPLOYMENT, None))
            for f in rule.condition(figures, now) or []:
                seen[(DEPLOYMENT, rule.name, f.subject)] = (f, None)
    rows = conn.execute(select(alerts).where(alerts.c.state != "resolved"))
    active = {(r.school_id, r.rule, r.subject): r for r in rows}
    hours = in_school_hours(now)
    day_start = _school_day_start(now)
    for key, (finding, gateway_id) in seen.items():
        _held(conn, changes, key, finding, gateway_id, active.get(key), now, hours, day_start)
    for key, row in active.items():
        if key not in seen and (row.rule, row.school_id, row.gateway_id) in decided:
            _clear(conn, changes, row, now)
    return changes


def _where(row: Any) -> Any:
    return (alerts.c.school_id == row.school_id) & (alerts.c.id == row.id)


def _held(
    conn: Connection,
    changes: Changes,
    key: tuple[str, str, str],
    finding: Finding,
    gateway_id: str | None,
    row: Any,
    now: datetime,
    hours: bool,
    day_start: datetime,
) -> None:
    school_id, name, subject = key
    rule = RULES[name]
    since = finding.since
    if rule.in_school_hours:
        if not hours:
            if row is not None and row.state == "pending":
                conn.execute(delete(alerts).where(_where(row)))
            elif row is not None and row.clear_since is not None:
                conn.execute(update(alerts).where(_where(row)).values(clear_since=None))
            return
        since = max(since, day_start)
    if row is not None:
        since = min(since, row.since)
    due = now - since >= rule.window
    if row is None:
        state = "open" if due else "pending"
        conn.execute(
            alerts.insert().values(
                school_id=school_id,
                id=uuid.uuid4(),
                rule=name,
                subject=subject,
                gateway_id=gateway_id,
                state=state,
                since=since,
                opened_at=now if due else None,
                value=finding.value,
                tell="opened" if due else None,
            )
        )
    elif row.state == "pending" and due:
        opened = {"state": "open", "opened_at": now, "since": since, "value": finding.value, "tell": "opened"}
        conn.execute(update(alerts).where(_where(row)).values(**opened))
    elif row.state == "open" and row.clear_since is not None:
        conn.execute(update(alerts).where(_where(row)).values(clear_since=None))
    if due and (row is None or row.state == "pending"):
        changes.opened.append(key)
    elif not due:
        changes.pending += 1


def _clear(conn: Connection, changes: Changes, row: Any, now: datetime) -> None:
    if row.state == "pending":
        conn.execute(delete(alerts).where(_where(row)))
    elif row.clear_since is None:
        conn.execute(update(alerts).where(_where(row)).values(clear_since=now))
    elif now - row.clear_since >= RULES[row.rule].clear_window:
        conn.execute(update(alerts).where(_where(row)).values(state="resolved", resolved_at=now, tell="resolved"))
        changes.resolved.append((row.school_id, row.rule, row.subject))


def record_outage(conn: Connection, since: datetime, opened_at: datetime, *, told: bool) -> None:
    """Keep the database's outage that the process noticed (and mailed, when ``told``) while no row
    could be written: an open alert, resolved by the next rounds like any other."""
    found = conn.execute(
        select(alerts.c.id).where(
            alerts.c.school_id == DEPLOYMENT,
            alerts.c.rule == "database_down",
            alerts.c.subject == "database",
            alerts.c.state != "resolved",
        )
    ).first()
    if found is not None:
        return
    conn.execute(
        alerts.insert().values(
            school_id=DEPLOYMENT,
            id=uuid.uuid4(),
            rule="database_down",
            subject="database",
            state="open",
            since=since,
            opened_at=opened_at,
            tell=None if told else "opened",
        )
    )


def to_tell(conn: Connection) -> list[Alert]:
    """The alerts whose opening or resolution is still to be told."""
    return [_alert(r) for r in conn.execute(select(alerts).where(alerts.c.tell.is_not(None)))]


def set_told(conn: Connection, alert: Alert) -> None:
    """``alert``'s notice went (unless the alert moved on since: then that is still to tell)."""
    conn.execute(
        update(alerts)
        .where(alerts.c.school_id == alert.school_id, alerts.c.id == alert.id, alerts.c.tell == alert.tell)
        .values(tell=None)
    )


def acknowledge(conn: Connection, school_id: str, alert_id: UUID, account_id: UUID, now: datetime) -> bool:
    """A person has seen the alert: who and when are kept (the first one's). False: no such alert of
    the school, or one already acknowledged."""
    done = conn.execute(
        update(alerts)
        .where(
            alerts.c.school_id == school_id,
            alerts.c.id == alert_id,
            alerts.c.state != "pending",
            alerts.c.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=account_id)
    )
    return bool(done.rowcount)


def _listed(conn: Connection, where: Any, now: datetime) -> list[Alert]:
    # Open ones first (the newest on top), then the ones resolved in the last RECENT.
    open_rows = conn.execute(select(alerts).where(where, alerts.c.state == "open").order_by(alerts.c.opened_at.desc()))
    recent = conn.execute(
        select(alerts)
        .where(where, alerts.c.state == "resolved", alerts.c.opened_at >= now - RECENT)
        .order_by(alerts.c.opened_at.desc())
        .limit(RECENT_ROWS)
    )
    return [_alert(r) for r in [*open_rows, *recent]]


def alerts_of_school(conn: Connection, school_id: str, now: datetime) -> list[Alert]:
    """The school's alerts: the open ones, then the recent."""
    return _listed(conn, alerts.c.school_id == school_id, now)


def alerts_of_region(conn: Connection, region_id: str, now: datetime) -> list[Alert]:
    """The alerts of the region's schools: the open ones, then the recent."""
    ids = select(schools.c.school_id).where(schools.c.region_id == region_id).scalar_subquery()
    return _listed(conn, alerts.c.school_id.in_(ids), now)
