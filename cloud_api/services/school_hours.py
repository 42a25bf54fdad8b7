"""The school day of each class (issue 21): when it starts and ends, and the school's grace.

A school that sets its day tells families of a child not at school by the start plus the grace
(``not_arrived``) and of one who leaves before the end (``left_early``); a school that never set it
sends neither. Classes not set take the school's default. Times are local (Asia/Almaty). Only days
Kazakhstan works on are school days: weekends and public holidays are off, the transferred working
Saturdays are on (the ``holidays`` calendar the report deadlines use). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import people, school_hours
from cloud_api.reports.deadline import is_working_day
from cloud_api.services.audit import AuditEntry, write_audit
from shared.localtime import LOCAL_TZ

__all__ = [
    "DEFAULT",
    "MAX_GRACE_MINUTES",
    "ClassDay",
    "SchoolHours",
    "class_names",
    "every_school_hours",
    "is_school_day",
    "school_hours_of",
    "set_school_hours",
]

DEFAULT = ""  # the class name of the school's default row
MAX_GRACE_MINUTES = 120


@dataclass(frozen=True)
class ClassDay:
    """A class's school day, local times."""

    starts: time
    ends: time

    def deadline(self, day: date, grace_minutes: int) -> datetime:
        """The instant (UTC) a child with no entry on ``day`` is noticed as not arrived."""
        start = datetime.combine(day, self.starts, LOCAL_TZ)
        return (start + timedelta(minutes=grace_minutes)).astimezone(UTC)

    def end(self, day: date) -> datetime:
        """The instant (UTC) the school day of ``day`` ends."""
        return datetime.combine(day, self.ends, LOCAL_TZ).astimezone(UTC)


@dataclass(frozen=True)
class SchoolHours:
    """A school's day: the default, the grace, and the classes set apart from the default."""

    default: ClassDay
    grace_minutes: int
    classes: dict[str, ClassDay] = field(default_factory=dict)

    def of(self, class_name: str | None) -> ClassDay:
        """The school day of ``class_name`` (the default for a class not set, or none)."""
        return self.classes.get(class_name or DEFAULT, self.default)


def is_school_day(day: date) -> bool:
    """Whether children are expected at school on ``day``: Kazakhstan's working days."""
    return is_working_day(day)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _time(text: str) -> time:
    return time.fromisoformat(text)


def school_hours_of(conn: Connection, school_id: str) -> SchoolHours | None:
    """The school's day, or None when the school never set it."""
    h = school_hours.c
    return _hours(conn.execute(select(school_hours).where(h.school_id == school_id)).all())


def every_school_hours(conn: Connection) -> dict[str, SchoolHours]:
    """The day of every school that set one, in one read (the absence worker's, each round)."""
    rows: dict[str, list[Any]] = {}
    for row in conn.execute(select(school_hours).order_by(school_hours.c.school_id)):
        rows.setdefault(row.school_id, []).append(row)
    found = {school: _hours(its) for school, its in rows.items()}
    return {school: hours for school, hours in found.items() if hours is not None}


def _hours(rows: Sequence[Any]) -> SchoolHours | None:
    default = next((r for r in rows if r.class_name == DEFAULT), None)
    if default is None:
        return None
    classes = {r.class_name: ClassDay(_time(r.starts), _time(r.ends)) for r in rows if r.class_name != DEFAULT}
    return SchoolHours(ClassDay(_time(default.starts), _time(default.ends)), int(default.grace_minutes or 0), classes)


def _audited(hours: SchoolHours | None) -> dict[str, object] | None:
    if hours is None:
        return None
    return {
        "starts": _hhmm(hours.default.starts),
        "ends": _hhmm(hours.default.ends),
        "grace_minutes": hours.grace_minutes,
        "classes": {n: [_hhmm(d.starts), _hhmm(d.ends)] for n, d in sorted(hours.classes.items())},
    }


def set_school_hours(conn: Connection, school_id: str, hours: SchoolHours, *, actor: str, now: datetime) -> None:
    """Keep ``hours`` as the school's day (replacing the one before), journalled.

    Raises ``DomainError("bad_school_hours")`` for a day that ends before it starts or a grace out of
    0 to :data:`MAX_GRACE_MINUTES`: the office's form says so field by field first.
    """
    days = [hours.default, *hours.classes.values()]
    if not 0 <= hours.grace_minutes <= MAX_GRACE_MINUTES or any(not d.starts < d.ends for d in days):
        raise DomainError("bad_school_hours")
    before = _audited(school_hours_of(conn, school_id))
    conn.execute(delete(school_hours).where(school_hours.c.school_id == school_id))
    row = {"school_id": school_id, "updated_at": now, "actor": actor}
    rows = [
        {**row, "class_name": DEFAULT, **_times(hours.default), "grace_minutes": hours.grace_minutes},
        *({**row, "class_name": n, **_times(d), "grace_minutes": None} for n, d in sorted(hours.classes.items())),
    ]
    conn.execute(insert(school_hours), rows)
    after = _audited(hours)
    entry = AuditEntry("create" if before is None else "update", "school_hours", school_id, before, after)
    write_audit(conn, school_id, actor, now, [entry])


def _times(day: ClassDay) -> dict[str, str]:
    return {"starts": _hhmm(day.starts), "ends": _hhmm(day.ends)}


def class_names(conn: Connection, school_id: str) -> list[str]:
    """The classes of the school's active students, in order (1а, 1б, …, 11в: by grade, then letter)."""
    p = people.c
    query = (
        select(p.class_name)
        .distinct()
        .where(p.school_id == school_id, p.role == "student", p.active.is_(True), p.class_name.is_not(None))
    )
    names = [str(n) for n in conn.execute(query).scalars() if n]
    return sorted(names, key=_class_order)


def _class_order(name: str) -> tuple[int, str]:
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits else 99, name)
