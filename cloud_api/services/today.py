"""A school's day at a glance, for its office: who is in the building, who has not arrived, the meals
served by period against those eligible, the readers and the gateway, and what needs attention.

Who is inside comes from each person's last granted entry or exit of the day (a person who tapped
in and has not tapped out is inside). A child without consent is recorded without identity: such
entries are counted, never named. Reads only; the caller owns the connection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from cloud_api.db.schema import events, people, report_warnings, wallet_outbox
from cloud_api.services.consent import consents_of
from cloud_api.services.menus import current_meal_rules, period_order
from shared.contract import Decision, EventKind

__all__ = ["DeviceState", "PeriodMeals", "Served", "Today", "school_today", "served_today"]

_FREE = ("free", "discounted")
_DEVICE_DAYS = 14  # how far back a reader's last reported state is looked for


@dataclass(frozen=True)
class PeriodMeals:
    """A meal period of the day: meals served (of them free or discounted) against students eligible."""

    period: str
    served: int
    free: int
    eligible: int


@dataclass(frozen=True)
class DeviceState:
    """A reader or terminal: its last reported state and when, and its last tap today."""

    device_id: str
    gateway_id: str
    state: str | None
    state_at: datetime | None
    last_event_at: datetime | None


@dataclass
class Today:
    """The day of one school (see the module's docstring)."""

    day: date
    inside: list[dict[str, Any]] = field(default_factory=list)  # people rows with ``since``
    not_arrived: list[dict[str, Any]] = field(default_factory=list)  # students with consent, no entry
    anonymous_entries: int = 0
    students: int = 0
    staff: int = 0
    meals: list[PeriodMeals] = field(default_factory=list)
    devices: list[DeviceState] = field(default_factory=list)
    gateways: dict[str, datetime] = field(default_factory=dict)  # gateway → its last delivered batch today
    report_warnings: list[dict[str, Any]] = field(default_factory=list)
    wallet_refused: int = 0  # this month's records the Social Wallet refused

    @property
    def inside_by_class(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Who is inside, class by class (staff last), each by name: the roll-call list."""
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for person in self.inside:
            key = (person["grade"] if person["grade"] is not None else 99, person["class_name"] or "")
            groups.setdefault(key, []).append(person)
        return [
            (name, sorted(rows, key=lambda r: (r["last_name"], r["first_name"])))
            for (_g, name), rows in sorted(groups.items())
        ]


def school_today(conn: Connection, school_id: str, day: date) -> Today:
    """The school's day ``day`` (local) as the office's Today page shows it."""
    today = Today(day)
    everyone = {
        str(row.id): dict(row._mapping)
        for row in conn.execute(
            select(
                people.c.id,
                people.c.role,
                people.c.last_name,
                people.c.first_name,
                people.c.class_name,
                people.c.grade,
                people.c.meal_category,
            ).where(people.c.school_id == school_id, people.c.active, people.c.role.in_(("student", "staff")))
        )
    }
    today.students = sum(1 for p in everyone.values() if p["role"] == "student")
    today.staff = len(everyone) - today.students
    granted = (
        events.c.school_id == school_id,
        events.c.local_date == day,
        events.c.decision == Decision.GRANTED.value,
    )
    passages = (EventKind.ENTRY.value, EventKind.EXIT.value)
    # Each person's last entry or exit, ranked in the database: a big school's day is some ten
    # thousand taps, and only one row a person comes back.
    ranked = (
        select(
            events.c.person_id,
            events.c.kind,
            events.c.occurred_at,
            func.row_number()
            .over(partition_by=events.c.person_id, order_by=(events.c.occurred_at.desc(), events.c.seq.desc()))
            .label("n"),
        )
        .where(*granted, events.c.kind.in_(passages), events.c.person_id.is_not(None))
        .subquery()
    )
    for person, kind, at in conn.execute(
        select(ranked.c.person_id, ranked.c.kind, ranked.c.occurred_at).where(ranked.c.n == 1)
    ):
        if kind == EventKind.ENTRY.value and person in everyone:
            today.inside.append({**everyone[person], "since": at})
    entry = events.c.kind == EventKind.ENTRY.value
    entered = set(conn.execute(select(events.c.person_id).distinct().where(*granted, entry)).scalars())
    today.anonymous_entries = conn.execute(
        select(func.count()).where(*granted, entry, events.c.person_id.is_(None))
    ).scalar_one()
    period, category = events.c.meal["period"].as_string(), events.c.meal["category"].as_string()
    served: Counter[str] = Counter()
    free: Counter[str] = Counter()
    for name, how, count in conn.execute(
        select(period, category, func.count())
        .where(*granted, events.c.kind == EventKind.MEAL.value, events.c.meal.is_not(None))
        .group_by(period, category)
    ):
        served[name] += count
        free[name] += count if how in _FREE else 0
    consenting = consents_of(conn, school_id)  # the school's in one query: a list of 3,000 ids is slower
    today.not_arrived = sorted(
        (r for p, r in everyone.items() if r["role"] == "student" and consenting.get(UUID(p)) and p not in entered),
        key=lambda r: (r["grade"] or 0, r["class_name"] or "", r["last_name"], r["first_name"]),
    )
    eligible = sum(1 for r in everyone.values() if r["role"] == "student" and r["meal_category"] in _FREE)
    rules = current_meal_rules(conn, school_id)
    order = period_order(rules[0] if rules else None)  # by the time of day, not by name
    by_time = sorted(served, key=lambda p: (order.get(p, len(order)), p))
    today.meals = [PeriodMeals(p, served[p], free[p], eligible) for p in by_time]
    today.devices = _devices(conn, school_id, day)
    today.gateways = {
        gateway: at
        for gateway, at in conn.execute(
            select(events.c.gateway_id, func.max(events.c.received_at))
            .where(events.c.school_id == school_id, events.c.local_date == day)
            .group_by(events.c.gateway_id)
        )
    }
    w = report_warnings.c
    today.report_warnings = [
        dict(r._mapping) for r in conn.execute(select(report_warnings).where(w.subject == school_id))
    ]
    month_start = day.replace(day=1)
    today.wallet_refused = conn.execute(
        select(func.count()).where(
            wallet_outbox.c.school_id == school_id,
            wallet_outbox.c.status == "rejected",
            wallet_outbox.c.local_date >= month_start,
        )
    ).scalar_one()
    return today


def _devices(conn: Connection, school_id: str, day: date) -> list[DeviceState]:
    """Every device heard from in the last fortnight: its newest reported state, its last event today."""
    since = day - timedelta(days=_DEVICE_DAYS)
    states: dict[str, tuple[str, str, datetime]] = {}
    for device, gateway, reason, at in conn.execute(
        select(events.c.device_id, events.c.gateway_id, events.c.reason, events.c.occurred_at)
        .where(
            events.c.school_id == school_id,
            events.c.local_date >= since,
            events.c.kind == EventKind.DEVICE_STATUS.value,
        )
        .order_by(events.c.occurred_at)
    ):
        states[device] = (gateway, reason, at)
    lately: dict[str, tuple[str, datetime]] = {
        device: (gateway, at)
        for device, gateway, at in conn.execute(
            select(events.c.device_id, events.c.gateway_id, func.max(events.c.occurred_at))
            .where(
                events.c.school_id == school_id,
                events.c.local_date == day,
                events.c.kind != EventKind.DEVICE_STATUS.value,
            )
            .group_by(events.c.device_id, events.c.gateway_id)
        )
    }
    found = []
    for device in sorted({*states, *lately}):
        gateway, state, state_at = states.get(device, (lately[device][0], None, None))  # type: ignore[assignment]
        found.append(DeviceState(device, gateway, state, state_at, lately.get(device, (None, None))[1]))
    return found


@dataclass(frozen=True)
class Served:
    """A meal served today: to whom (their class), in which period, how it was paid, when."""

    class_name: str
    name: str
    period: str
    category: str
    at: datetime


def served_today(conn: Connection, school_id: str, day: date) -> list[Served]:
    """The meals served on ``day`` to people the school knows, by class, then name, then time."""
    named = {
        str(row.id): row
        for row in conn.execute(
            select(people.c.id, people.c.last_name, people.c.first_name, people.c.class_name, people.c.grade).where(
                people.c.school_id == school_id, people.c.role.in_(("student", "staff"))
            )
        )
    }
    found = []
    for person, at, meal in conn.execute(
        select(events.c.person_id, events.c.occurred_at, events.c.meal).where(
            events.c.school_id == school_id,
            events.c.local_date == day,
            events.c.kind == EventKind.MEAL.value,
            events.c.decision == Decision.GRANTED.value,
        )
    ):
        row = named.get(person or "")
        if row is None or not meal:
            continue
        found.append(
            (
                row.grade if row.grade is not None else 99,
                Served(row.class_name or "", f"{row.last_name} {row.first_name}", meal["period"], meal["category"], at),
            )
        )
    return [served for _grade, served in sorted(found, key=lambda f: (f[0], f[1].class_name, f[1].name, f[1].at))]
