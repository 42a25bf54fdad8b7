"""The figures the NEDB collects from a school: attendance and meals, by class and category. The caller owns
the transaction.

Built from what the monthly reports are built from (:mod:`cloud_api.reports.build`, the daily
rollups and the roster as it stood that month), never from raw events, so the NEDB's figures and the
reports sent to the education authority agree:

    monthly (a month, once its reports' cutoff day has come)
        meals/<class>/<category>      student_days, portions, state_tiyn
        meals/total/<category>        students, portions, state_tiyn
        attendance/<YYYY-MM-DD>       students, staff, absent (working days and days with visits)
        attendance/class/<class>      person_days
    daily (yesterday, each morning, when the settings ask for it)
        meals/total/<category>        students, portions, state_tiyn
        attendance/<YYYY-MM-DD>       students, staff

A packet is built once, when it falls due, and kept (``nedb_figures.payload``): a packet sent again
after an outage is the same packet, byte for byte, under the same id.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, func, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import nedb_figures, rollup_presence
from cloud_api.nedb.contract import FigureRecord, FiguresPacket
from cloud_api.reports.build import CATEGORIES, attendance_report, meals_report
from cloud_api.reports.sums import meal_sums
from shared.localtime import local_date

__all__ = ["PENDING", "daily_packet", "enqueue_due", "monthly_packet"]

PENDING = "pending"


def monthly_packet(conn: Connection, school_id: str, organisation: str, month: str, packet_id: UUID) -> FiguresPacket:
    """The month's figures of the school, as the NEDB collects them."""
    records: list[FigureRecord] = []
    meals = meals_report(conn, school_id, month)
    for line in meals["classes"]:
        for category in CATEGORIES:
            cell = line["categories"][category]
            if cell["portions"]:
                values = {
                    "student_days": cell["students"],
                    "portions": cell["portions"],
                    "state_tiyn": cell["state_tiyn"],
                }
                records.append(
                    FigureRecord(
                        record_id=f"meals/{line['class']}/{category}",
                        measure="meals",
                        class_name=line["class"],
                        category=category,
                        values=values,
                    )
                )
    for category in CATEGORIES:
        cell = meals["totals"][category]
        values = {"students": cell["students"], "portions": cell["portions"], "state_tiyn": cell["state_tiyn"]}
        records.append(
            FigureRecord(record_id=f"meals/total/{category}", measure="meals", category=category, values=values)
        )
    attendance = attendance_report(conn, school_id, month)
    for day in attendance["days"]:
        if day.get("future") or not (day["working_day"] or day["students"] or day["staff"]):
            continue
        values = {"students": day["students"], "staff": day["staff"], "absent": day["absent"]}
        on = date.fromisoformat(day["date"])
        records.append(
            FigureRecord(record_id=f"attendance/{on.isoformat()}", measure="attendance", day=on, values=values)
        )
    per_class: dict[str, int] = defaultdict(int)
    for person in attendance["people"]:
        if person["class"]:
            per_class[person["class"]] += len(person["days"])
    for name in sorted(per_class):
        records.append(
            FigureRecord(
                record_id=f"attendance/class/{name}",
                measure="attendance",
                class_name=name,
                values={"person_days": per_class[name]},
            )
        )
    return FiguresPacket(packet_id=packet_id, organisation=organisation, kind="monthly", period=month, records=records)


def daily_packet(conn: Connection, school_id: str, organisation: str, day: date, packet_id: UUID) -> FiguresPacket:
    """One day's figures of the school: meals by category, students and staff present."""
    records: list[FigureRecord] = []
    by_category = {row.category: row for row in meal_sums(conn, day, day, ["category"], [school_id])}
    for category in CATEGORIES:
        row = by_category.get(category)
        values: dict[str, Any] = {"students": 0, "portions": 0, "state_tiyn": 0}
        if row is not None:
            paid, full = int(row.paid_tiyn or 0), int(row.full_tiyn or 0)
            state = max(0, full - paid) if category != "paid" else 0
            values = {"students": int(row.students), "portions": int(row.portions), "state_tiyn": state}
        records.append(
            FigureRecord(
                record_id=f"meals/total/{category}", measure="meals", day=day, category=category, values=values
            )
        )
    p = rollup_presence.c
    counts = dict(
        conn.execute(
            select(p.role, func.count()).where(p.school_id == school_id, p.local_date == day).group_by(p.role)
        ).all()
    )
    present = {"students": int(counts.get("student", 0)), "staff": int(counts.get("staff", 0))}
    records.append(
        FigureRecord(record_id=f"attendance/{day.isoformat()}", measure="attendance", day=day, values=present)
    )
    return FiguresPacket(
        packet_id=packet_id, organisation=organisation, kind="daily", period=day.isoformat(), records=records
    )


def _previous_month(day: date) -> str:
    return (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def enqueue_due(
    conn: Connection,
    school_id: str,
    organisation: str,
    *,
    now: datetime,
    enabled_at: datetime,
    cutoff_day: int,
    daily: bool,
) -> int:
    """Build and queue the packets that have fallen due for the school and are not queued yet; how many.

    The month before this one once the reports' cutoff day has come (the gateways had until then to
    bring in what they held), and yesterday when ``daily``; only periods that ended after the school
    opted in (it sends nothing for the years before it took part).
    """
    today = local_date(now)
    due: list[tuple[str, str]] = []
    month = _previous_month(today)
    if today.day >= cutoff_day and today.replace(day=1) > local_date(enabled_at).replace(day=1):
        due.append(("monthly", month))
    yesterday = today - timedelta(days=1)
    if daily and yesterday >= local_date(enabled_at):
        due.append(("daily", yesterday.isoformat()))
    if not due:
        return 0
    have = set(
        conn.execute(
            select(nedb_figures.c.kind, nedb_figures.c.period).where(
                nedb_figures.c.school_id == school_id,
                nedb_figures.c.period.in_([period for _kind, period in due]),
            )
        ).all()
    )
    made = 0
    for kind, period in due:
        if (kind, period) in have:
            continue
        packet_id = UUID(str(uuid_utils.uuid7()))
        if kind == "monthly":
            packet = monthly_packet(conn, school_id, organisation, period, packet_id)
        else:
            packet = daily_packet(conn, school_id, organisation, date.fromisoformat(period), packet_id)
        # Another process may have queued it meanwhile: the unique key keeps one, without an error.
        result = conn.execute(
            dialect_insert(conn, nedb_figures)
            .values(
                school_id=school_id,
                id=packet_id,
                kind=kind,
                period=period,
                state=PENDING,
                created_at=now,
                records=len(packet.records),
                payload=packet.model_dump(mode="json"),
            )
            .on_conflict_do_nothing(index_elements=["school_id", "kind", "period"])
            .returning(nedb_figures.c.id)
        )
        made += len(result.all())
    return made
