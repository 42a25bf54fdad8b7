"""A school's roster version: every change to what gateways hold takes the next number.

Gateways ask for what changed after the version they hold (DESIGN §3), so a version must never
be handed out twice: the increment is one ``UPDATE … RETURNING`` that PostgreSQL serialises with a
row lock, inside the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from cloud_api.db.schema import roster_versions

__all__ = ["current_version", "next_version"]


def current_version(conn: Connection, school_id: str) -> int:
    """The version of the school's roster (0 before anything was imported)."""
    query = select(roster_versions.c.version).where(roster_versions.c.school_id == school_id)
    return int(conn.execute(query).scalar_one_or_none() or 0)


def next_version(conn: Connection, school_id: str) -> int:
    """Take the next version for a change made in this transaction."""
    bumped = conn.execute(
        update(roster_versions)
        .where(roster_versions.c.school_id == school_id)
        .values(version=roster_versions.c.version + 1)
        .returning(roster_versions.c.version)
    ).scalar_one_or_none()
    if bumped is not None:
        return int(bumped)
    conn.execute(insert(roster_versions).values(school_id=school_id, version=1))
    return 1
