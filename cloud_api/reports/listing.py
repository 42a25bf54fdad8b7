"""What the reports' pages and routes list: every version of a subject's reports with its deliveries,
the warnings raised, and the newest month's attendance days. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from cloud_api.db.schema import report_deliveries, report_warnings, reports, schools
from cloud_api.reports.issue import KINDS
from cloud_api.reports.store import VersionKey, file_names, read_file
from shared.localtime import local_date

__all__ = ["AttendanceChart", "newest_attendance_days", "report_listing", "report_warnings_of"]


def report_listing(conn: Connection, subject: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every version of the subject's reports of ``kinds``, newest first, with its deliveries."""
    deliveries: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for d in conn.execute(
        select(report_deliveries).where(report_deliveries.c.subject == subject, report_deliveries.c.kind.in_(kinds))
    ):
        deliveries.setdefault((d.month, d.kind, d.version), []).append(
            {
                "receiver": d.receiver,
                "state": d.state,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at,
                "last_error": d.last_error,
            }
        )
    w = report_warnings.c
    raised = conn.execute(select(report_warnings).where(w.subject == subject, w.kind.in_(kinds)))
    warned = {(r.month, r.kind): r.raised_at for r in raised}
    names = file_names(conn, subject, kinds)
    rows = conn.execute(
        select(
            reports.c.month,
            reports.c.kind,
            reports.c.version,
            reports.c.created_at,
            reports.c.changes,
            reports.c.missing_gateways,
        )
        .where(reports.c.subject == subject, reports.c.kind.in_(kinds))
        .order_by(reports.c.month.desc(), reports.c.kind, reports.c.version.desc())
    )
    return [
        {
            "month": r.month,
            "kind": r.kind,
            "version": r.version,
            "created_at": r.created_at,
            "changes": r.changes,
            "missing_gateways": r.missing_gateways,
            "files": names.get(VersionKey(subject, r.month, r.kind, r.version), []),
            "deliveries": deliveries.get((r.month, r.kind, r.version), []),
            "warned_at": warned.get((r.month, r.kind)),
        }
        for r in rows
    ]


def report_warnings_of(conn: Connection, region_id: str | None) -> list[dict[str, Any]]:
    """Reports still unacknowledged on their warning day: of the region and its schools (None: all)."""
    query = select(report_warnings).order_by(
        report_warnings.c.month.desc(), report_warnings.c.subject, report_warnings.c.kind
    )
    if region_id is not None:
        members = select(schools.c.school_id).where(schools.c.region_id == region_id)
        query = query.where(
            (report_warnings.c.kind.in_(KINDS) & report_warnings.c.subject.in_(members))
            | ((report_warnings.c.kind == "region") & (report_warnings.c.subject == region_id))
        )
    return [
        {
            "subject": w.subject,
            "month": w.month,
            "kind": w.kind,
            "deadline": w.deadline,
            "raised_at": w.raised_at,
            "receivers": w.receivers,
        }
        for w in conn.execute(query)
    ]


@dataclass(frozen=True)
class AttendanceChart:
    """The newest attendance report's month as the admin's chart shows it."""

    month: str  # "" before the first report
    days: list[dict[str, Any]]  # the report's days, each with ``future`` (not happened when issued)
    enrolled: int  # students on the roster at the month's end: the chart's full height


def newest_attendance_days(conn: Connection, school_id: str) -> AttendanceChart:
    """The month of the school's newest attendance report, its days and its enrolment."""
    newest = conn.execute(
        select(reports.c.month, reports.c.version, reports.c.created_at)
        .where(reports.c.subject == school_id, reports.c.kind == "attendance")
        .order_by(reports.c.month.desc(), reports.c.version.desc())
        .limit(1)
    ).first()
    if newest is None:
        return AttendanceChart("", [], 0)
    data = read_file(conn, VersionKey(school_id, newest.month, "attendance", newest.version), "attendance.json")
    if not data:
        return AttendanceChart(newest.month, [], 0)
    content = orjson.loads(data)
    # A version issued before its month ended, by code that did not yet mark the days to come, counts
    # every student absent on them: the days after its issue had not happened, whatever it says.
    issued_on = local_date(newest.created_at).isoformat()
    days = [{**d, "future": bool(d.get("future")) or d["date"] > issued_on} for d in content["days"]]
    return AttendanceChart(newest.month, days, int(content.get("enrolled_students", 0)))
