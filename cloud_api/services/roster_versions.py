"""Counters that only go up: a school's roster version, and the version of a school's month.

Gateways ask for what changed after the roster version they hold, so a version must
never be handed out twice: the increment is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` that
PostgreSQL serialises with a row lock, inside the caller's transaction. The same lock makes the
numbers commit in order: whoever reads N has seen every change numbered N or less, and a change
still uncommitted will be seen with a greater number. That is what the hourly report job relies on
to skip a report whose inputs did not move (:mod:`cloud_api.reports.marks`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import month_versions, roster_versions

__all__ = ["current_version", "next_month_version", "next_version"]


def current_version(conn: Connection, school_id: str) -> int:
    """The version of the school's roster (0 before anything was imported)."""
    query = select(roster_versions.c.version).where(roster_versions.c.school_id == school_id)
    return int(conn.execute(query).scalar_one_or_none() or 0)


def next_version(conn: Connection, school_id: str) -> int:
    """Take the next roster version for a change made in this transaction."""
    return _bump(conn, roster_versions, school_id=school_id)


def next_month_version(conn: Connection, school_id: str, month: str) -> int:
    """Take the next version of the school's ``YYYY-MM`` for a change to its report inputs."""
    return _bump(conn, month_versions, school_id=school_id, month=month)


def _bump(conn: Connection, table: Table, **key: Any) -> int:
    # One statement, not an UPDATE then an INSERT when no row was found: every school's month gets a
    # new row, and two gateways' first batches of the month would both find none, both insert, and
    # the second batch would fail whole on the unique key. The upsert waits for the first instead.
    stmt = dialect_insert(conn, table).values(**key, version=1)
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={"version": table.c.version + 1})
    return int(conn.execute(stmt.returning(table.c.version)).scalar_one())
