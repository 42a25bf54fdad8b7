"""What an outside system reads of a school (the API under ``/v1/integrations``): its day, its meals, its roster.

Consent, exactly as the gateway and the office apply it (Order No. 456 §33-1.1): attendance and
meals are tracked only for a student whose guardian's consent to attendance tracking is *in force
now*. A student without it (never asked, or withdrawn) is absent from the attendance and meal
feeds altogether, for every day, the days before the withdrawal too: withdrawing consent stops what
outside systems read at once. Events without identity (the gateway records a child without consent
so) name nobody and are left out. Staff are not in the feeds: they are for the students' systems.

The roster is the school's list of its active students as the National Education Database gives
it (name, class, grade, language), whatever their consent, and never an IIN, a contact or a card.
A student is named by the school's person id (a UUID), stable for as long as the student is on the
roster, the same in the three feeds, so that a system that holds the roster scope can match the
day's rows to its own list.

Reads only; the caller owns the connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.schema import events, people
from cloud_api.services.consent import consents_of
from shared.localtime import LOCAL_TZ

__all__ = ["MealRow", "StudentDay", "attendance_day", "consenting_students", "meals_day", "roster"]


@dataclass
class StudentDay:
    """One student's entries and exits of a day (local times)."""

    student_id: UUID
    class_name: str | None
    passes: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def first_entry(self) -> datetime | None:
        """The first entry of the day, or None."""
        return next((at for kind, at in self.passes if kind == "entry"), None)

    @property
    def last_exit(self) -> datetime | None:
        """The last exit of the day, or None."""
        return next((at for kind, at in reversed(self.passes) if kind == "exit"), None)


@dataclass(frozen=True)
class MealRow:
    """One meal a student was served (local time)."""

    student_id: UUID
    class_name: str | None
    at: datetime
    period: str
    category: str
    dishes: tuple[str, ...]


def _students(conn: Connection, school_id: str, class_name: str | None) -> Any:
    query = select(
        people.c.id,
        people.c.last_name,
        people.c.first_name,
        people.c.middle_name,
        people.c.class_name,
        people.c.grade,
        people.c.language,
    ).where(people.c.school_id == school_id, people.c.role == "student", people.c.active)
    if class_name is not None:
        query = query.where(people.c.class_name == class_name)
    return conn.execute(query.order_by(people.c.grade, people.c.class_name, people.c.last_name, people.c.first_name))


def consenting_students(conn: Connection, school_id: str, class_name: str | None = None) -> dict[UUID, str | None]:
    """The active students (of ``class_name``) whose guardian's consent is in force now, with their class."""
    consent = consents_of(conn, school_id)  # the school's in one query, as the office's Today reads it
    return {row.id: row.class_name for row in _students(conn, school_id, class_name) if consent.get(row.id)}


def _granted(conn: Connection, school_id: str, day: date, kinds: tuple[str, ...]) -> Any:
    return conn.execute(
        select(events.c.kind, events.c.person_id, events.c.occurred_at, events.c.meal)
        .where(events.c.school_id == school_id, events.c.local_date == day)
        .where(events.c.kind.in_(kinds), events.c.decision == "granted", events.c.person_id.is_not(None))
        .order_by(events.c.occurred_at, events.c.seq)
    )


def _person(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:  # a gateway's id for a person the cloud does not know
        return None


def attendance_day(conn: Connection, school_id: str, day: date, class_name: str | None = None) -> list[StudentDay]:
    """Each consenting student (of ``class_name``) with their granted entries and exits of ``day``, in order.

    A consenting student who did not come is listed with no passes: the system learns who is absent.
    """
    students = consenting_students(conn, school_id, class_name)
    days = {student: StudentDay(student, name) for student, name in students.items()}
    for row in _granted(conn, school_id, day, ("entry", "exit")):
        person = _person(row.person_id)
        if person in days:
            days[person].passes.append((row.kind, row.occurred_at.astimezone(LOCAL_TZ)))
    return list(days.values())


def meals_day(conn: Connection, school_id: str, day: date, class_name: str | None = None) -> list[MealRow]:
    """Every meal served on ``day`` to a consenting student (of ``class_name``), in order; no prices."""
    students = consenting_students(conn, school_id, class_name)
    found: list[MealRow] = []
    for row in _granted(conn, school_id, day, ("meal",)):
        person = _person(row.person_id)
        if person not in students or not row.meal:
            continue
        meal = row.meal
        found.append(
            MealRow(
                person,
                students[person],
                row.occurred_at.astimezone(LOCAL_TZ),
                str(meal.get("period", "")),
                str(meal.get("category", "")),
                tuple(str(d) for d in meal.get("dishes", [])),
            )
        )
    return found


def roster(conn: Connection, school_id: str, class_name: str | None = None) -> list[dict[str, Any]]:
    """The school's active students (of ``class_name``): id, names, class, grade, language; never an IIN."""
    return [dict(row._mapping) for row in _students(conn, school_id, class_name)]
