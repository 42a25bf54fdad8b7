"""The alert rules, as data: each one a name, a condition over the figures, a window and a scope.

A condition reads either one gateway's row of ``gateway_health`` (scope ``gateway``) or the
deployment's own figures (scope ``deployment``: the delivery queues, the database) and answers what
holds now: a list of :class:`Finding` (empty: nothing is wrong), or None when the figures cannot
tell (a silent gateway's last disk figure is not news, so its disk rule neither opens nor resolves
anything). A finding says since when it holds when the figures know (the last heartbeat of a silent
gateway, the oldest waiting row of a queue); else it says ``now`` and the evaluator keeps the
earliest time it saw it. An alert opens once the condition has held for the rule's ``window`` and
resolves once it has been clear for ``clear_window`` (:mod:`cloud_api.alerts.evaluate`).

A rule ``in_school_hours`` opens only on a working day of the school calendar (Kazakhstan's, the
reports' :func:`~cloud_api.reports.deadline.is_working_day`) from 07:00 to 19:00 Asia/Almaty, and
its window counts from 07:00 at the earliest: a gateway switched off for the night alerts at 07:10.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal

from cloud_api.reports.deadline import is_working_day
from shared.contract import BACKLOG_MAX_AGE_S, CLOCK_OFFSET_MAX_S, DISK_FREE_MIN_RATIO
from shared.localtime import LOCAL_TZ

__all__ = [
    "DEPLOYMENT",
    "RULES",
    "SCHOOL_DAY",
    "SILENT_AFTER",
    "DeploymentFigures",
    "Finding",
    "QueueState",
    "Rule",
    "in_school_hours",
    "school_day_start",
]

DEPLOYMENT = "*"  # the school of the deployment's own alerts
SCHOOL_DAY = (time(7, 0), time(19, 0))
# A gateway beats every minute: one missed beat, with room for a slow link, and it is silent.
SILENT_AFTER = timedelta(seconds=90)
CLEAR_WINDOW = timedelta(minutes=2)
DISK_FREE_MIN = DISK_FREE_MIN_RATIO
BACKLOG_MAX_S = BACKLOG_MAX_AGE_S

Scope = Literal["gateway", "deployment"]


@dataclass(frozen=True, slots=True)
class Finding:
    """What a condition found wrong: about whom, since when, and the figure that says so."""

    subject: str
    since: datetime
    value: float | None = None


@dataclass(frozen=True, slots=True)
class QueueState:
    """A delivery queue at this round: how many rows wait, and since when the oldest due one does."""

    name: str
    pending: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class DeploymentFigures:
    """The deployment's own figures at this round."""

    database_up: bool
    queues: tuple[QueueState, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule. ``condition(figures, now)``: see the module's docstring."""

    name: str
    scope: Scope
    condition: Callable[[Any, datetime], list[Finding] | None]
    window: timedelta
    in_school_hours: bool = False
    clear_window: timedelta = field(default=CLEAR_WINDOW)


def school_day_start(now: datetime) -> datetime:
    """07:00 Asia/Almaty of ``now``'s local day."""
    return datetime.combine(now.astimezone(LOCAL_TZ).date(), SCHOOL_DAY[0], LOCAL_TZ)


def in_school_hours(now: datetime) -> bool:
    """Whether ``now`` is within 07:00-19:00 Asia/Almaty of a working day of the school calendar."""
    local = now.astimezone(LOCAL_TZ)
    return is_working_day(local.date()) and SCHOOL_DAY[0] <= local.time() < SCHOOL_DAY[1]


def _online(g: Mapping[str, Any], now: datetime) -> bool:
    return bool(now - g["received_at"] <= SILENT_AFTER)


def _silent(g: Mapping[str, Any], now: datetime) -> list[Finding]:
    if _online(g, now):
        return []
    return [Finding(g["gateway_id"], g["received_at"], (now - g["received_at"]).total_seconds())]


def _readers_offline(g: Mapping[str, Any], now: datetime) -> list[Finding] | None:
    if not _online(g, now):
        return None  # its readers' last states are old news; the gateway's own alert says it
    parts: Mapping[str, str] = g["parts"] or {}
    return [
        Finding(f"{g['gateway_id']}/{name.removeprefix('link:')}", now)
        for name, state in sorted(parts.items())
        if name.startswith("link:") and state == "offline"
    ]


def _disk_low(g: Mapping[str, Any], now: datetime) -> list[Finding] | None:
    if not _online(g, now):
        return None
    ratio = g["disk_free_ratio"]
    return [Finding(g["gateway_id"], now, ratio)] if ratio < DISK_FREE_MIN else []


def _backlog_old(g: Mapping[str, Any], now: datetime) -> list[Finding] | None:
    if not _online(g, now):
        return None  # "while the gateway is online": a silent one's backlog is the silence's doing
    age = g["oldest_pending_age_s"]
    return [Finding(g["gateway_id"], now, age)] if age is not None and age > BACKLOG_MAX_S else []


def _clock_off(g: Mapping[str, Any], now: datetime) -> list[Finding] | None:
    if not _online(g, now):
        return None
    # The gateway's own measure takes the half round trip off; the cloud's includes the trip.
    offset = g["reported_clock_offset_s"]
    offset = g["clock_offset_s"] if offset is None else offset
    return [Finding(g["gateway_id"], now, offset)] if abs(offset) > CLOCK_OFFSET_MAX_S else []


def _queue_stuck(d: DeploymentFigures, now: datetime) -> list[Finding]:
    # The oldest due row still waiting is how long the queue has not moved: a queue that moves
    # takes its oldest row within minutes, whatever arrives behind it.
    return [
        Finding(q.name, q.oldest, float(q.pending))
        for q in d.queues
        if q.pending > 0 and q.oldest is not None and q.oldest <= now
    ]


def _database_down(d: DeploymentFigures, now: datetime) -> list[Finding]:
    return [] if d.database_up else [Finding("database", now)]


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("gateway_silent", "gateway", _silent, timedelta(minutes=10), in_school_hours=True),
        Rule("reader_offline", "gateway", _readers_offline, timedelta(minutes=5), in_school_hours=True),
        Rule("disk_low", "gateway", _disk_low, timedelta(minutes=1)),
        Rule("backlog_old", "gateway", _backlog_old, timedelta(minutes=1)),
        Rule("clock_offset", "gateway", _clock_off, timedelta(minutes=1)),
        Rule("queue_stuck", "deployment", _queue_stuck, timedelta(minutes=15)),
        Rule("database_down", "deployment", _database_down, timedelta(minutes=1)),
    )
}
