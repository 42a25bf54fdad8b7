"""The content of a school's monthly reports, built from the daily rollups (never from raw events).

``meals_report`` (§33-1.9): per day and category (free, discounted, paid) the students fed, the
portions, the set meal's dishes with their prices that day, what families paid and what the state
owes; per class; the month's totals; the month's mean rating of the canteen (§33-1.8) and how
many rated, when anybody did. ``attendance_report`` (§33-1.12): per day the students and
staff present, the entries of children without consent (a count, nothing more), the absences on
working days (none on a day still to come: a month may be issued before it ends); per person the
first entry and last exit of each day, and the days a guardian reported the student away (excused,
:mod:`cloud_api.services.absences`; a month without any has no such keys, so its content and digest
stay what they were). Names, classes and enrolment are the roster's as it stood
that month (:mod:`cloud_api.reports.roster_then`), never today's.

Both are plain dicts of JSON types, in a stable order, so that their canonical JSON says whether
anything changed between two issues (:mod:`cloud_api.reports.issue`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, func, select, type_coerce

from cloud_api.db.schema import dish_versions, rollup_presence, set_meals
from cloud_api.reports.deadline import is_working_day
from cloud_api.reports.roster_then import roster_then
from cloud_api.reports.sums import meal_sums
from cloud_api.services.absences import excused_days
from cloud_api.services.ratings import month_rating
from shared.localtime import day_end, local_date

__all__ = ["CATEGORIES", "attendance_report", "blank_cell", "meal_cell", "meals_report", "month_days"]

CATEGORIES = ("free", "discounted", "paid")


def month_days(month: str) -> list[date]:
    """Every day of ``YYYY-MM``."""
    first = date.fromisoformat(f"{month}-01")
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=n) for n in range((following - first).days)]


def _day_menus(conn: Connection, school_id: str, days: list[date]) -> dict[tuple[date, str], dict[str, Any]]:
    """The set meal in force for each (day, period), with each dish's name and price on that day."""
    menus: dict[tuple[date, str], Any] = {}
    for row in conn.execute(
        select(set_meals)
        .where(set_meals.c.school_id == school_id, set_meals.c.day >= days[0], set_meals.c.day <= days[-1])
        .order_by(set_meals.c.id)
    ):
        menus[(row.day, row.period)] = row  # the newest row of a day and period wins
    versions = defaultdict(list)
    for row in conn.execute(
        select(dish_versions).where(dish_versions.c.school_id == school_id).order_by(dish_versions.c.id)
    ):
        versions[str(row.dish_id)].append(row)

    def dish_on(dish_id: str, day: date) -> dict[str, Any] | None:
        # The price a dish had on that day: its newest version made before the day ended (local).
        end = day_end(day)
        known = [v for v in versions.get(dish_id, []) if v.at <= end] or versions.get(dish_id, [])[:1]
        if not known:
            return None
        v = known[-1]
        return {"names": dict(sorted(v.names.items())), "price_tiyn": int(v.price_tiyn)}

    return {
        key: {
            "price_tiyn": int(row.price_tiyn),
            "dishes": [d for d in (dish_on(str(i), key[0]) for i in row.dish_ids) if d is not None],
        }
        for key, row in menus.items()
    }


def meals_report(conn: Connection, school_id: str, month: str) -> dict[str, Any]:
    """The meals report of one school and month."""
    days = month_days(month)
    only = [school_id]
    menus = _day_menus(conn, school_id, days)
    classes = roster_then(conn, school_id, days).people
    per_day: dict[date, dict[str, dict[str, Any]]] = defaultdict(lambda: {c: blank_cell() for c in CATEGORIES})
    for r in meal_sums(conn, days[0], days[-1], ["local_date", "category"], only):
        per_day[r.local_date][r.category] = meal_cell(r, r.students)
    per_class: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: {c: blank_cell() for c in CATEGORIES})
    for r in meal_sums(conn, days[0], days[-1], ["person_key", "category"], only):
        cell = per_class[classes.get(r.person_key, (None, ""))[0] or "—"][r.category]
        for field, value in meal_cell(r, r.days).items():  # students: student-days, a class fed 20 days counts each
            cell[field] += value
    totals = {c: blank_cell() for c in CATEGORIES}
    for cells in per_day.values():
        for c in CATEGORIES:
            for field in ("students", "portions", "paid_tiyn", "state_tiyn"):
                totals[c][field] += cells[c][field]
    report: dict[str, Any] = {
        "kind": "meals",
        "school_id": school_id,
        "month": month,
        "days": [
            {
                "date": day.isoformat(),
                "categories": per_day[day],
                "menus": [{"period": p, **menu} for (d, p), menu in sorted(menus.items()) if d == day],
            }
            for day in days
            if day in per_day
        ],
        "classes": [{"class": name, "categories": per_class[name]} for name in sorted(per_class)],
        "totals": totals,
    }
    average, count = month_rating(conn, school_id, month)
    if count:
        # Only a month with ratings says so: a month without any keeps the content (and the digest,
        # which decides whether a new version is issued) it always had.
        report["rating"] = {"average": round(average or 0, 2), "count": count}
    return report


def meal_cell(row: Any, students: int) -> dict[str, int]:
    """One category's figures from a :func:`~cloud_api.reports.sums.meal_sums` row."""
    paid, full = int(row.paid_tiyn or 0), int(row.full_tiyn or 0)
    state = max(0, full - paid) if row.category != "paid" else 0
    return {"students": int(students), "portions": int(row.portions), "paid_tiyn": paid, "state_tiyn": state}


def blank_cell() -> dict[str, int]:
    """A category with nothing served yet."""
    return {"students": 0, "portions": 0, "paid_tiyn": 0, "state_tiyn": 0}


def attendance_report(conn: Connection, school_id: str, month: str, now: datetime | None = None) -> dict[str, Any]:
    """The attendance report of one school and month, as of ``now`` (the days after its local day
    have not happened yet)."""
    days = month_days(month)
    today = local_date(now or datetime.now(UTC))
    p = rollup_presence.c
    in_month = (p.school_id == school_id, p.local_date >= days[0], p.local_date <= days[-1])
    # The day as its ISO text, with no per-row conversion (str() below: PostgreSQL's driver gives a date).
    day = type_coerce(p.local_date, String)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"students": 0, "staff": 0, "anonymous": 0})
    for on, role, present in conn.execute(select(day, p.role, func.count()).where(*in_month).group_by(day, p.role)):
        counts[str(on)]["students" if role == "student" else role] = int(present)
    # Seventy thousand visits in a big school's month, read in the covering index's order (day, then
    # person): each person's days come in order, and the times are the rollup's local "HH:MM".
    persons: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, on, first_entry, last_exit in conn.execute(
        select(p.person_key, day, p.first_entry_local, p.last_exit_local)
        .where(*in_month, p.role != "anonymous")
        .order_by(p.local_date, p.person_key)
    ).all():  # all at once: the drivers' row-at-a-time fetch costs more than the rows
        persons[key].append({"date": str(on), "first_entry": first_entry, "last_exit": last_exit})
    roster = roster_then(conn, school_id, days)  # as it stood then: a later import changes no past month
    classes = roster.people
    excused = _excused(conn, school_id, days, today, classes, persons)
    out_days = []
    for on in days:
        c = counts.get(on.isoformat(), {"students": 0, "staff": 0, "anonymous": 0})
        working = is_working_day(on)
        if on > today:
            # A month issued before it ends (the current one, a preliminary issue): nobody is absent
            # from a day still to come. Marked only then, so a finished month's content (and its
            # digest, which decides whether a new version is issued) stays what it always was.
            out_days.append({"date": on.isoformat(), "working_day": working, **c, "absent": 0, "future": True})
            continue
        # Without consent a child is a count of passages (each entry and exit its own row, the same
        # child perhaps several times), never a student present. Absences are those who did not
        # come, and any of the unnamed may be one who did: each passage is taken as a child who came,
        # so the figure is the fewest absent the events allow, never a child who came called absent.
        absent = max(0, roster.enrolled[on] - c["students"] - c["anonymous"]) if working else 0
        out_days.append({"date": on.isoformat(), "working_day": working, **c, "absent": absent})
    if excused:
        # Only a month with excused days says so: the others keep the content (and the digest) they had.
        per_day: dict[str, int] = defaultdict(int)
        for reported in excused.values():
            for on in reported:
                per_day[on] += 1
        for d in out_days:
            if not d.get("future"):
                d["excused"] = min(per_day.get(d["date"], 0), d["absent"])  # among the absent, never more
        for key in excused:
            persons.setdefault(key, [])
    people = [
        _person(key, visits, classes, excused.get(key))
        for key, visits in sorted(persons.items(), key=_by_name(classes))
    ]
    return {
        "kind": "attendance",
        "school_id": school_id,
        "month": month,
        "enrolled_students": roster.enrolled[days[-1]],
        "days": out_days,
        "people": people,
    }


def _excused(
    conn: Connection,
    school_id: str,
    days: list[date],
    today: date,
    classes: dict[str, tuple[str | None, str]],
    persons: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[str, str]]:
    """The days a guardian reported each student away, on working days up to today when the student did
    not come after all (a child reported sick who came is present): {person id: {ISO day: reason}}."""
    found: dict[str, dict[str, str]] = {}
    for key, reported in excused_days(conn, school_id, days[0], min(days[-1], today)).items():
        if key not in classes:
            continue  # not on the roster that month
        came = {v["date"] for v in persons.get(key, [])}
        kept = {on.isoformat(): why for on, why in sorted(reported.items()) if is_working_day(on)}
        kept = {on: why for on, why in kept.items() if on not in came}
        if kept:
            found[key] = kept
    return found


def _person(
    key: str,
    visits: list[dict[str, Any]],
    classes: dict[str, tuple[str | None, str]],
    excused: dict[str, str] | None = None,
) -> dict[str, Any]:
    class_name, name = classes.get(key, (None, ""))
    person = {"person_id": key, "name": name, "class": class_name, "days": visits}
    if excused:
        person["excused"] = [{"date": on, "reason": why} for on, why in excused.items()]
    return person


def _by_name(classes: dict[str, tuple[str | None, str]]) -> Any:
    return lambda item: (classes.get(item[0], (None, ""))[1], item[0])
