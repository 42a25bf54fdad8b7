"""The fleet: every gateway's state from its last heartbeat, what is wrong first, and a gateway's day.

What can be wrong with a gateway, worst first (:data:`PROBLEMS`; the thresholds are the alert rules'):

    silent          no heartbeat for ``SILENT_AFTER`` (10 minutes), or none ever
    reader_offline  a reader's link (a part ``link:<reader>``) offline or failing
    part_failing    another part failing, offline or stopped (the forwarder, the roster sync, the pages),
                    or a network interface down
    backlog_old     the oldest undelivered event is older than ``BACKLOG_OLD_S`` (an hour)
    disk_low        free disk under ``DISK_LOW_RATIO`` (15 %)
    clock_off       the clock more than ``CLOCK_OFF_S`` (2 s) from the cloud's

A gateway's state is judged when it is read, from ``gateway_health`` (its last heartbeat) and the
time now: a gateway goes silent without writing anything. Its day is read from ``gateway_heartbeats``
hour by hour. Reads only; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from cloud_api.db.schema import gateway_health, gateway_heartbeats, gateways, schools
from shared.contract import BACKLOG_MAX_AGE_S, CLOCK_OFFSET_MAX_S, DISK_FREE_MIN_RATIO
from shared.localtime import LOCAL_TZ

__all__ = [
    "BACKLOG_OLD_S",
    "CLOCK_OFF_S",
    "DISK_LOW_RATIO",
    "PROBLEMS",
    "SILENT_AFTER",
    "SORTS",
    "GatewayState",
    "HourOfDay",
    "count_states",
    "fleet_states",
    "gateway_day",
    "judge",
    "sort_states",
]

SILENT_AFTER = timedelta(minutes=10)
BACKLOG_OLD_S = BACKLOG_MAX_AGE_S
DISK_LOW_RATIO = DISK_FREE_MIN_RATIO
CLOCK_OFF_S = CLOCK_OFFSET_MAX_S
PROBLEMS = ("silent", "reader_offline", "part_failing", "backlog_old", "disk_low", "clock_off")
READER_PREFIX = "link:"
_BAD_PART = frozenset({"failing", "offline", "stopped"})
# What the fleet pages show of the last heartbeat (not the host's memory, CPU and network counters).
_READ = (
    "school_id",
    "gateway_id",
    "received_at",
    "clock_offset_s",
    "reported_clock_offset_s",
    "version",
    "uptime_s",
    "disk_free_bytes",
    "disk_free_ratio",
    "links",
    "parts",
    "outbox_pending",
    "oldest_pending_age_s",
)


@dataclass(frozen=True)
class GatewayState:
    """One gateway as its last heartbeat left it, judged at a moment; ``health`` None: never heard from."""

    gateway_id: str
    school_id: str
    school_name: str
    region_id: str | None
    health: Mapping[str, Any] | None
    problems: tuple[str, ...]

    @property
    def worst(self) -> str:
        """The worst problem, or ``ok``."""
        return self.problems[0] if self.problems else "ok"

    @property
    def severity(self) -> int:
        """How bad the worst problem is: 0 for ok, higher is worse (silent is the highest)."""
        return len(PROBLEMS) - PROBLEMS.index(self.worst) if self.problems else 0

    @property
    def last_contact(self) -> datetime | None:
        """When the cloud last heard from it (its clock)."""
        return self.health["received_at"] if self.health else None

    def figure(self, name: str) -> Any:
        """A figure of the last heartbeat (``outbox_pending``, ``disk_free_ratio``, …); None without one."""
        return self.health.get(name) if self.health else None

    @property
    def clock_offset_s(self) -> float | None:
        """The gateway's own measure of its clock's offset, or the cloud's (which includes the trip)."""
        if not self.health:
            return None
        reported = self.health.get("reported_clock_offset_s")
        return float(reported) if reported is not None else float(self.health["clock_offset_s"])

    @property
    def readers(self) -> list[tuple[str, str]]:
        """Each reader link (its id without ``link:``) and its state, by id."""
        parts = (self.health or {}).get("parts") or {}
        return sorted(
            (name[len(READER_PREFIX) :], state) for name, state in parts.items() if name.startswith(READER_PREFIX)
        )

    @property
    def other_parts(self) -> list[tuple[str, str]]:
        """The gateway's other parts (forwarder, roster sync, pages, …) and their states."""
        parts = (self.health or {}).get("parts") or {}
        return sorted((name, state) for name, state in parts.items() if not name.startswith(READER_PREFIX))


def judge(health: Mapping[str, Any] | None, now: datetime) -> tuple[str, ...]:
    """What is wrong with a gateway whose last heartbeat is ``health`` (None: never), worst first."""
    if health is None:
        return ("silent",)
    found: set[str] = set()
    if now - health["received_at"] > SILENT_AFTER:
        found.add("silent")
    for name, state in (health.get("parts") or {}).items():
        if state in _BAD_PART:
            found.add("reader_offline" if name.startswith(READER_PREFIX) else "part_failing")
    if not all((health.get("links") or {}).values()):
        found.add("part_failing")
    oldest = health.get("oldest_pending_age_s")
    if oldest is not None and oldest > BACKLOG_OLD_S:
        found.add("backlog_old")
    if health["disk_free_ratio"] < DISK_LOW_RATIO:
        found.add("disk_low")
    offset = health.get("reported_clock_offset_s")
    offset = health["clock_offset_s"] if offset is None else offset
    if abs(offset) > CLOCK_OFF_S:
        found.add("clock_off")
    return tuple(p for p in PROBLEMS if p in found)


def fleet_states(
    conn: Connection, now: datetime, *, region_id: str | None = None, school_id: str | None = None
) -> list[GatewayState]:
    """Every registered gateway (of the region, or of the school, or of the deployment) judged at ``now``.

    Two reads merged here rather than one join: ``gateways`` and ``schools`` are copied to every Citus
    worker, ``gateway_health`` is distributed, and an outer join with the reference table outside is
    not one every Citus version runs.
    """
    query = select(gateways.c.gateway_id, gateways.c.school_id, schools.c.name, schools.c.region_id).select_from(
        gateways.outerjoin(schools, schools.c.school_id == gateways.c.school_id)
    )
    if school_id is not None:
        query = query.where(gateways.c.school_id == school_id)
    if region_id is not None:
        query = query.where(schools.c.region_id == region_id)
    registered = conn.execute(query).all()
    health_query = select(*(gateway_health.c[name] for name in _READ))
    if school_id is not None:
        health_query = health_query.where(gateway_health.c.school_id == school_id)
    elif region_id is not None:
        health_query = health_query.where(gateway_health.c.school_id.in_(sorted({r.school_id for r in registered})))
    latest = {(h.school_id, h.gateway_id): h._mapping for h in conn.execute(health_query)}
    states = []
    for row in registered:
        health = latest.get((row.school_id, row.gateway_id))
        states.append(
            GatewayState(
                row.gateway_id, row.school_id, row.name or row.school_id, row.region_id, health, judge(health, now)
            )
        )
    return states


def _by_worst(s: GatewayState) -> tuple[Any, ...]:
    # Worst first, then the longest silent, then by school: "descending" severity reads as the default.
    contact = s.last_contact.timestamp() if s.last_contact else float("-inf")
    return (-s.severity, contact, s.school_name.lower(), s.gateway_id)


def _number(name: str) -> Callable[[GatewayState], tuple[Any, ...]]:
    def key(s: GatewayState) -> tuple[Any, ...]:
        value = s.figure(name)
        return (value is None, value or 0, s.school_name.lower(), s.gateway_id)

    return key


SORTS: dict[str, Callable[[GatewayState], tuple[Any, ...]]] = {
    "problem": _by_worst,
    "contact": lambda s: (s.last_contact is not None, s.last_contact or datetime.min, s.gateway_id),
    "backlog": lambda s: (-(s.figure("outbox_pending") or 0), s.school_name.lower(), s.gateway_id),
    "disk": _number("disk_free_ratio"),
    "version": lambda s: (s.figure("version") or "", s.school_name.lower(), s.gateway_id),
    "school": lambda s: (s.school_name.lower(), s.school_id, s.gateway_id),
}


def sort_states(states: Iterable[GatewayState], sort: str, descending: bool = False) -> list[GatewayState]:
    """The states in the order ``sort`` names (a key of :data:`SORTS`); an unknown sort is by problem."""
    return sorted(states, key=SORTS.get(sort, _by_worst), reverse=descending)


def count_states(states: Iterable[GatewayState]) -> dict[str, int]:
    """How many gateways have each worst problem (and ``ok``), every key present."""
    counts = dict.fromkeys((*PROBLEMS, "ok"), 0)
    for s in states:
        counts[s.worst] += 1
    return counts


@dataclass
class HourOfDay:
    """One local hour of a gateway's day: how many heartbeats arrived and what was wrong in them."""

    start: datetime  # local
    beats: int = 0
    problems: set[str] = field(default_factory=set)

    @property
    def ordered_problems(self) -> list[str]:
        """The problems of the hour, worst first (``silent`` when nothing arrived)."""
        found = self.problems | ({"silent"} if not self.beats else set())
        return [p for p in PROBLEMS if p in found]


def _problems_of(beat: Any) -> set[str]:
    found = set()
    for name, _state in (beat.not_ok or {}).items():
        found.add("reader_offline" if name.startswith(READER_PREFIX) else "part_failing")
    if beat.oldest_pending_age_s is not None and beat.oldest_pending_age_s > BACKLOG_OLD_S:
        found.add("backlog_old")
    if beat.disk_free_ratio < DISK_LOW_RATIO:
        found.add("disk_low")
    if abs(beat.clock_offset_s) > CLOCK_OFF_S:
        found.add("clock_off")
    return found


def gateway_day(conn: Connection, school_id: str, gateway_id: str, now: datetime, hours: int = 24) -> list[HourOfDay]:
    """The last ``hours`` local hours to ``now`` (the running one last): heartbeats and problems of each.

    Reads the day's rows along ``gateway_heartbeats_gateway_received_at`` (a gateway's day is about
    1,440 small rows, on its school's shard).
    """
    this_hour = now.astimezone(LOCAL_TZ).replace(minute=0, second=0, microsecond=0)
    first = this_hour - timedelta(hours=hours - 1)
    day = [HourOfDay(first + timedelta(hours=n)) for n in range(hours)]
    rows = conn.execute(
        select(
            gateway_heartbeats.c.received_at,
            gateway_heartbeats.c.not_ok,
            gateway_heartbeats.c.oldest_pending_age_s,
            gateway_heartbeats.c.disk_free_ratio,
            gateway_heartbeats.c.clock_offset_s,
        ).where(
            gateway_heartbeats.c.school_id == school_id,
            gateway_heartbeats.c.gateway_id == gateway_id,
            gateway_heartbeats.c.received_at >= first,
        )
    )
    for beat in rows:
        index = int((beat.received_at - first).total_seconds() // 3600)
        if 0 <= index < hours:
            day[index].beats += 1
            day[index].problems |= _problems_of(beat)
    return day
