"""The two absence notices to families (issue 21): a child not at school by the start, a child gone early.

``not_arrived``: at each class's start plus the school's grace, on a school day, every student of the
class whose guardians consent to attendance tracking, who has no granted entry that day and whom no
guardian reported away, gets one notice (key: the local day). Swept again, it queues nothing twice
(the family notice's key), so any number of API processes may sweep, a crash mid-sweep is made good
by the next, and a process that was down at the deadline catches up when it is back, until the
class's day ends; a past day never gets one.

``left_early``: ingest, in the batch's transaction, queues one for each granted exit of a student
between their class's start and end on a school day (key: the event id).

Whether a guardian hears of either is the push worker's business (the ``absences`` setting and the
consent in force when it sends). The caller owns the transaction and wakes the push worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.schema import events, people
from cloud_api.push.notices import queue_family_notice
from cloud_api.services.absences import absent_on
from cloud_api.services.consent import consents_of
from cloud_api.services.school_hours import SchoolHours, is_school_day, school_hours_of
from shared.contract import Decision, Event, EventKind
from shared.localtime import local_date

__all__ = ["due_deadlines", "queue_left_early", "queue_not_arrived"]


def due_deadlines(hours: SchoolHours, class_names: Sequence[str | None], now: datetime) -> dict[str | None, datetime]:
    """The classes whose deadline today has come and whose day has not ended, with that deadline."""
    day = local_date(now)
    due: dict[str | None, datetime] = {}
    if not is_school_day(day):
        return due
    for name in class_names:
        class_day = hours.of(name)
        deadline = class_day.deadline(day, hours.grace_minutes)
        if deadline <= now < class_day.end(day):
            due[name] = deadline
    return due


def queue_not_arrived(conn: Connection, school_id: str, hours: SchoolHours, now: datetime) -> int:
    """Queue a ``not_arrived`` notice for each student due one now (see the module); how many are new."""
    day = local_date(now)
    if not is_school_day(day):
        return 0
    p = people.c
    students = conn.execute(
        select(p.id, p.class_name).where(p.school_id == school_id, p.role == "student", p.active.is_(True))
    ).all()
    due = due_deadlines(hours, sorted({s.class_name for s in students}, key=str), now)
    waiting = [s for s in students if s.class_name in due]
    if not waiting:
        return 0
    e = events.c
    entered = set(
        conn.execute(
            select(e.person_id)
            .distinct()
            .where(
                e.school_id == school_id,
                e.local_date == day,
                e.kind == EventKind.ENTRY.value,
                e.decision == Decision.GRANTED.value,
            )
        ).scalars()
    )
    consenting = consents_of(conn, school_id)
    away = absent_on(conn, school_id, day)
    queued = 0
    for student in waiting:
        if not consenting.get(student.id) or str(student.id) in entered or student.id in away:
            continue
        facts = {"deadline": due[student.class_name].isoformat()}
        queued += queue_family_notice(conn, school_id, student.id, "not_arrived", day.isoformat(), facts, now)
    return queued


def queue_left_early(conn: Connection, school_id: str, stored: Sequence[Event], now: datetime) -> int:
    """Queue a ``left_early`` notice for each newly stored granted exit of a student before their class's end."""
    exits: list[tuple[Event, UUID]] = []
    for event in stored:
        if event.kind is not EventKind.EXIT or event.decision is not Decision.GRANTED or event.person_id is None:
            continue
        try:
            exits.append((event, UUID(event.person_id)))
        except ValueError:
            continue  # not a roster person
    if not exits:
        return 0
    hours = school_hours_of(conn, school_id)
    if hours is None:
        return 0
    p = people.c
    classes = dict(
        conn.execute(
            select(p.id, p.class_name).where(
                p.school_id == school_id, p.role == "student", p.id.in_({person for _, person in exits})
            )
        ).all()
    )
    queued = 0
    for event, person in exits:
        if person not in classes:
            continue  # staff leave when they please
        day = local_date(event.occurred_at)
        class_day = hours.of(classes[person])
        # Before the start the day has not begun: a child who steps out at 07:40 has not left it.
        if not is_school_day(day) or not class_day.deadline(day, 0) <= event.occurred_at < class_day.end(day):
            continue
        facts = {"at": event.occurred_at.astimezone(UTC).isoformat(), "end": class_day.ends.strftime("%H:%M")}
        queued += queue_family_notice(conn, school_id, person, "left_early", str(event.id), facts, now)
    return queued
