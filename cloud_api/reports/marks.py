"""A report's inputs' mark: what lets the hourly job skip the reports whose inputs did not move.

The job runs every hour of the month after its month; drafting every school's reports each time
(about a second a school, 7,900 schools) would not fit in the hour. A draft reads its inputs' mark
first and its data after; the mark is noted for the report, issued or not, and the next run
drafts it again only if the mark has moved since.

- a school's report: its month's version (an ingest batch with events of the month, a set meal of
  one of its days; :func:`~cloud_api.services.roster_versions.next_month_version`) and, while the
  month runs, its roster version (people, classes, dishes, cards, consents: every change that
  gateways hold takes one). Once the month is over (:func:`month_over`) no roster change reaches
  its reports: they read the roster as it stood then (:mod:`cloud_api.reports.roster_then`) and
  each dish at its price of the day, so a card issued or a student imported in November drafts
  nothing of October;
- a region's or the country's: how many of its schools have a month version and their sum, and a
  digest of the schools' names (the sums show no people).

Both counters commit in order (a row lock) and the mark is read before the data, so a change a
draft did not see commits with a greater number and moves the mark. A change that does not touch
the report (a card issued today) may move a school's mark too: it costs a draft that issues nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import month_versions, report_marks, roster_versions, schools
from shared.localtime import month_end

__all__ = ["KINDS", "inputs_mark", "month_over", "note_mark", "noted_mark", "schools_of"]

KINDS = ("meals", "attendance")  # of a school


def schools_of(kind: str, subject: str) -> Any:
    """The schools a report of ``kind`` about ``subject`` covers: a list, a query, or None for all."""
    if kind in KINDS:
        return [subject]
    if kind == "region":
        return select(schools.c.school_id).where(schools.c.region_id == subject)
    return None


def inputs_mark(conn: Connection, subject: str, month: str, kind: str) -> str:
    """The mark of what the report is built from, as committed now (read it before the data)."""
    m = month_versions.c
    months = select(func.count(), func.coalesce(func.sum(m.version), 0)).where(m.month == month)
    if kind in KINDS:
        _, total = conn.execute(months.where(m.school_id == subject)).one()
        if month_over(month):
            return f"month {total}"
        roster = select(roster_versions.c.version).where(roster_versions.c.school_id == subject)
        return f"roster {conn.execute(roster).scalar_one_or_none() or 0}, month {total}"
    covered = schools_of(kind, subject)
    named = select(schools.c.school_id, schools.c.name).order_by(schools.c.school_id)
    if covered is not None:
        months = months.where(m.school_id.in_(covered))
        named = named.where(schools.c.region_id == subject)
    count, total = conn.execute(months).one()
    names = hashlib.sha256(repr(conn.execute(named).all()).encode()).hexdigest()[:16]
    return f"schools {count}, months {total}, names {names}"


# A roster change is journalled at the time its import began and seen when it commits: one begun at
# 23:59 on the last day may commit after midnight. None takes two hours, and the month's reports are
# first built at 02:00 on the 1st, so from then on no roster change can reach them.
SETTLED = timedelta(hours=2)


def month_over(month: str, now: datetime | None = None) -> bool:
    """Whether ``YYYY-MM`` has ended (Asia/Almaty) and settled, by the clock the journal is written with."""
    return (now or datetime.now(UTC)) >= month_end(month) + SETTLED


def noted_mark(conn: Connection, subject: str, month: str, kind: str) -> str | None:
    """The mark the report's last draft read (None: never drafted since marks were kept)."""
    r = report_marks.c
    query = select(r.mark).where(r.subject == subject, r.month == month, r.kind == kind)
    return conn.execute(query).scalar_one_or_none()


def note_mark(conn: Connection, subject: str, month: str, kind: str, mark: str, at: datetime) -> None:
    """Keep ``mark`` as what the report was last drafted from."""
    stmt = dialect_insert(conn, report_marks).values(subject=subject, month=month, kind=kind, mark=mark, drafted_at=at)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["subject", "month", "kind"], set_={"mark": mark, "drafted_at": at})
    )
