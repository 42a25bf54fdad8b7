"""The school's roster as it stood during a month, read back from the audit journal.

A month's report describes that month: the students enrolled each day (whom the absences count)
and each person's name and class at the month's end. Read from the live roster instead, a student
imported in November would be "absent" every October school day, a class move would shift October's
meals to the new class, and the hourly job would issue October again for each such change, listing
no figure that changed. The journal holds every create and change of a person with its time and the
fields before (:mod:`cloud_api.services.roster_import` writes it in the same transaction), so walking it
backwards from the live rows gives the roster at any moment since: exact, and no second copy of the
roster to keep in step.

Times are the journal's, that is when the change was made: a roster imported today did not exist
last month, so last month's report counts nobody of it (a school's first month starts with its
first import).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from cloud_api.db.schema import audit_log, people
from shared.localtime import day_end

__all__ = ["PERSON", "RosterThen", "roster_then"]

PERSON = "person"  # the journal's entity of a roster row
_KEPT = ("role", "class_name", "last_name", "first_name", "active")


@dataclass(frozen=True)
class RosterThen:
    """Who was on the roster: names and classes at the last day's end, enrolled students each day."""

    people: dict[str, tuple[str | None, str]]  # person id → (class, "Last First")
    enrolled: dict[date, int]  # active students at the end of each day


def roster_then(conn: Connection, school_id: str, days: list[date]) -> RosterThen:
    """The roster of ``school_id`` over ``days`` (consecutive, oldest first), undoing every journalled
    change made after each day's end."""
    live = select(people.c.id, *(people.c[k] for k in _KEPT)).where(people.c.school_id == school_id)
    state: dict[str, dict[str, Any]] = {str(r.id): dict(zip(_KEPT, r[1:], strict=True)) for r in conn.execute(live)}
    ends = [day_end(day) for day in days]
    a = audit_log.c
    changes = conn.execute(
        select(a.at, a.action, a.entity_id, a.before)
        .where(a.school_id == school_id, a.entity == PERSON, a.at >= ends[0] - timedelta(days=1))
        .order_by(a.at.desc(), a.id.desc())
    ).all()
    enrolled: dict[date, int] = {}
    at_end: dict[str, tuple[str | None, str]] = {}
    pending = len(days) - 1  # the latest day whose end the walk has not yet reached
    for at, action, person_id, before in [*changes, (None, None, None, None)]:
        # Every change from this day's end on is undone: ``state`` is the roster at that end.
        while pending >= 0 and (at is None or at < ends[pending]):
            enrolled[days[pending]] = sum(1 for p in state.values() if p["role"] == "student" and p["active"])
            if pending == len(days) - 1:
                at_end = {key: (p["class_name"], f"{p['last_name']} {p['first_name']}") for key, p in state.items()}
            pending -= 1
        if at is None or pending < 0:
            break
        if action == "create":
            state.pop(person_id, None)
        elif action == "delete" and before is not None and all(k in before for k in _KEPT):
            state[person_id] = {k: before[k] for k in _KEPT}
        elif person_id in state and before is not None:
            state[person_id].update({k: v for k, v in before.items() if k in _KEPT})
    return RosterThen(at_end, enrolled)
