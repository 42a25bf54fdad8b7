"""Absences a guardian reports (issue 21): a child sick or away for some days, an excused absence.

A guardian reports a range of days (``first_day`` to ``last_day``), a reason (sick, family, other) and
an optional note; those days are excused in the month's attendance report and its табель, the
office's person page lists them, and no ``not_arrived`` notice goes out for them. A report whose days
are all still to come may be withdrawn; the row stays, marked, so the audit journal and the history
agree. The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import absence_reports
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.consent import require_guardian
from cloud_api.services.roster_versions import next_month_version
from shared.localtime import local_date

__all__ = [
    "MAX_DAYS",
    "MAX_DAYS_AHEAD",
    "MAX_DAYS_BACK",
    "MAX_NOTE",
    "REASONS",
    "REASON_WORDS",
    "absences_of",
    "absent_on",
    "excused_days",
    "report_absence",
    "withdraw_absence",
]

REASONS = ("sick", "family", "other")
# Each reason in the catalogs' words (the parent app, the office and the report say it alike).
REASON_WORDS = {"sick": "absence_reason_sick", "family": "absence_reason_family", "other": "absence_reason_other"}
MAX_DAYS_BACK = 30  # a past absence reported later than a month is the class teacher's business
MAX_DAYS_AHEAD = 90  # a holiday planned a term ahead, not a standing excuse
MAX_DAYS = 30  # one report a month at most: a longer absence is the school's to record
MAX_NOTE = 500


def _active() -> Any:
    return absence_reports.c.withdrawn_at.is_(None)


def report_absence(
    conn: Connection,
    school_id: str,
    guardian_id: UUID,
    child_id: UUID,
    first_day: date,
    last_day: date,
    reason: str,
    note: str | None,
    *,
    actor: str,
    now: datetime,
) -> UUID:
    """Record that ``child_id`` is away from ``first_day`` to ``last_day`` (both included); the report's id.

    Refused (``DomainError``) for another family's child (``unknown_person``), a reason not in
    :data:`REASONS` (``bad_absence_reason``), an end before the start (``absence_ends_before_start``),
    a start more than :data:`MAX_DAYS_BACK` days ago (``absence_too_far_back``), a start more than
    :data:`MAX_DAYS_AHEAD` ahead (``absence_too_far_ahead``), more than :data:`MAX_DAYS` days
    (``absence_too_long``), a note over :data:`MAX_NOTE` characters (``absence_note_too_long``) and
    days already reported (``absence_overlaps``).
    """
    require_guardian(conn, school_id, guardian_id, child_id)
    today = local_date(now)
    note = (note or "").strip() or None
    if reason not in REASONS:
        raise DomainError("bad_absence_reason")
    if last_day < first_day:
        raise DomainError("absence_ends_before_start")
    if first_day < today - timedelta(days=MAX_DAYS_BACK):
        raise DomainError("absence_too_far_back", days=MAX_DAYS_BACK)
    if first_day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise DomainError("absence_too_far_ahead", days=MAX_DAYS_AHEAD)
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise DomainError("absence_too_long", days=MAX_DAYS)
    if note is not None and len(note) > MAX_NOTE:
        raise DomainError("absence_note_too_long", limit=MAX_NOTE)
    a = absence_reports.c
    overlapping = conn.execute(
        select(a.id).where(
            a.school_id == school_id,
            a.child_id == child_id,
            _active(),
            a.first_day <= last_day,
            a.last_day >= first_day,
        )
    ).first()
    if overlapping is not None:
        raise DomainError("absence_overlaps")
    report_id = uuid.uuid4()
    row = {
        "school_id": school_id,
        "id": report_id,
        "child_id": child_id,
        "first_day": first_day,
        "last_day": last_day,
        "reason": reason,
        "note": note,
        "reported_by": guardian_id,
        "reported_at": now,
        "withdrawn_at": None,
    }
    conn.execute(insert(absence_reports).values(**row))
    _months_changed(conn, school_id, first_day, last_day)
    write_audit(conn, school_id, actor, now, [AuditEntry("create", "absence", str(report_id), None, _audited(row))])
    return report_id


def withdraw_absence(
    conn: Connection, school_id: str, guardian_id: UUID, report_id: UUID, *, actor: str, now: datetime
) -> None:
    """Withdraw a report whose days are all still to come.

    ``DomainError("unknown_absence")`` for no such report of the guardian's children (or one
    withdrawn already), ``absence_already_begun`` once its first day has come.
    """
    a = absence_reports.c
    row = conn.execute(select(absence_reports).where(a.school_id == school_id, a.id == report_id, _active())).first()
    if row is None:
        raise DomainError("unknown_absence")
    try:
        require_guardian(conn, school_id, guardian_id, row.child_id)
    except DomainError:
        raise DomainError("unknown_absence") from None
    if row.first_day <= local_date(now):
        raise DomainError("absence_already_begun")
    conn.execute(update(absence_reports).where(a.school_id == school_id, a.id == report_id).values(withdrawn_at=now))
    _months_changed(conn, school_id, row.first_day, row.last_day)
    before = _audited(dict(row._mapping))
    entry = AuditEntry("update", "absence", str(report_id), before, {**before, "withdrawn_at": now.isoformat()})
    write_audit(conn, school_id, actor, now, [entry])


def _months_changed(conn: Connection, school_id: str, first_day: date, last_day: date) -> None:
    # The attendance reports of those months excuse the days: a new version of each month's inputs
    # makes the report jobs draft them again (a month already issued gets a new version of its report).
    for month in sorted({first_day.strftime("%Y-%m"), last_day.strftime("%Y-%m")}):
        next_month_version(conn, school_id, month)


def _audited(row: dict[str, Any]) -> dict[str, Any]:
    # The note stays out of the journal: it may name an illness, and the journal is read by more people.
    return {
        "child_id": str(row["child_id"]),
        "first_day": row["first_day"].isoformat(),
        "last_day": row["last_day"].isoformat(),
        "reason": row["reason"],
        "note": row["note"] is not None,
    }


def absences_of(conn: Connection, school_id: str, child_id: UUID, *, since: date | None = None) -> list[dict[str, Any]]:
    """The child's reports in force, newest first (ending ``since`` or later, when given)."""
    a = absence_reports.c
    query = select(absence_reports).where(a.school_id == school_id, a.child_id == child_id, _active())
    if since is not None:
        query = query.where(a.last_day >= since)
    return [dict(r._mapping) for r in conn.execute(query.order_by(a.first_day.desc()))]


def absent_on(conn: Connection, school_id: str, day: date) -> set[UUID]:
    """The children of the school reported away on ``day``."""
    a = absence_reports.c
    query = select(a.child_id).where(a.school_id == school_id, _active(), a.first_day <= day, a.last_day >= day)
    return set(conn.execute(query).scalars())


def excused_days(conn: Connection, school_id: str, first: date, last: date) -> dict[str, dict[date, str]]:
    """Each child's reported days between ``first`` and ``last``, with the reason: {person id: {day: reason}}."""
    a = absence_reports.c
    query = select(a.child_id, a.first_day, a.last_day, a.reason).where(
        a.school_id == school_id, _active(), a.first_day <= last, a.last_day >= first
    )
    found: dict[str, dict[date, str]] = defaultdict(dict)
    for child, start, end, reason in conn.execute(query.order_by(a.reported_at)):
        day = max(start, first)
        while day <= min(end, last):
            found[str(child)][day] = reason
            day += timedelta(days=1)
    return dict(found)
