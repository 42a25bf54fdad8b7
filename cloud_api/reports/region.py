"""A region's (or the whole country's) month: the schools' meals and attendance added up, in SQL.

Built from the same daily rollups as a school's report, grouped by school, day and category in the
database (a region of 200 schools holds millions of rollup rows: they are never fetched one by one).
A person belongs to one school, so a region's students of a day are the sum of its schools'.
Aggregates only: no names, which is what a region or the ministry may see.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from cloud_api.db.schema import rollup_presence, schools
from cloud_api.reports.build import CATEGORIES, blank_cell, meal_cell, month_days
from cloud_api.reports.sums import meal_sums

__all__ = ["region_report"]


def _sums(*counts: str) -> dict[str, Any]:
    return {"meals": {c: blank_cell() for c in CATEGORIES}, **dict.fromkeys(counts, 0)}


def region_report(conn: Connection, region_id: str | None, month: str) -> dict[str, Any]:
    """The month of every school of ``region_id`` (None: every school of the deployment)."""
    days = month_days(month)
    first, last = days[0], days[-1]
    chosen = select(schools.c.school_id).where(schools.c.region_id == region_id) if region_id else None
    names = dict(
        conn.execute(
            select(schools.c.school_id, schools.c.name).where(schools.c.region_id == region_id)
            if region_id
            else select(schools.c.school_id, schools.c.name)
        ).all()
    )
    p = rollup_presence.c
    presence = (
        select(p.school_id, p.local_date, p.role, func.count())
        .where(p.local_date >= first, p.local_date <= last)
        .group_by(p.school_id, p.local_date, p.role)
    )
    if chosen is not None:
        presence = presence.where(p.school_id.in_(chosen))
    by_day: dict[str, dict[str, Any]] = defaultdict(lambda: _sums("students", "staff", "anonymous"))
    by_school: dict[str, dict[str, Any]] = defaultdict(lambda: _sums("student_days", "staff_days", "anonymous"))
    for row in meal_sums(conn, first, last, ["school_id", "local_date", "category"], chosen):
        figures = meal_cell(row, row.students)
        day_cell = by_day[row.local_date.isoformat()]["meals"][row.category]
        for cell in (day_cell, by_school[row.school_id]["meals"][row.category]):
            for field, value in figures.items():
                cell[field] += value
    for school, day, role, count in conn.execute(presence):
        field = "students" if role == "student" else role
        by_day[day.isoformat()][field] += int(count)
        by_school[school]["student_days" if role == "student" else "staff_days" if role == "staff" else role] += int(
            count
        )
    totals = {c: blank_cell() for c in CATEGORIES}
    for day in by_day.values():
        for c in CATEGORIES:
            for field in totals[c]:
                totals[c][field] += day["meals"][c][field]
    return {
        "kind": "region" if region_id else "country",
        "region_id": region_id,
        "month": month,
        "days": [{"date": d, **by_day[d]} for d in sorted(by_day)],
        "schools": [{"school_id": s, "name": names.get(s, s), **by_school[s]} for s in sorted(by_school)],
        "totals": totals,
    }
