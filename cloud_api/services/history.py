"""Reading append-only history tables: the newest row per key is the one in force."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, func, select

__all__ = ["in_force"]


def in_force(
    conn: Connection, table: Table, school_id: str, key: str, value: str, keys: Iterable[Any] | None = None
) -> dict[Any, Any]:
    """``{key: value}`` of the newest row per key of a school (all keys, or ``keys``); NULL values left out.

    One query: a max(id) per key joined back (ids only grow in an append-only table).
    """
    newest = select(table.c[key], func.max(table.c.id).label("id")).where(table.c.school_id == school_id)
    if keys is not None:
        newest = newest.where(table.c[key].in_(list(keys)))
    sub = newest.group_by(table.c[key]).subquery()
    rows = conn.execute(select(table.c[key], table.c[value]).join(sub, table.c.id == sub.c.id))
    return {k: v for k, v in rows if v is not None}
