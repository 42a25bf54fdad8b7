"""Reading append-only history tables: the newest row per key is the one in force."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, Table, func, select

__all__ = ["in_force", "newest_rows"]


def newest_rows(table: Table, school_id: str, *keys: str) -> Select[Any]:
    """The rows in force of a school's append-only ``table``: the newest per ``keys``.

    A max(id) per key joined back (ids only grow in an append-only table). The join names the
    school on both sides, so that on Citus the query stays on the school's shard.
    """
    newest = (
        select(table.c.school_id, *(table.c[k] for k in keys), func.max(table.c.id).label("id"))
        .where(table.c.school_id == school_id)
        .group_by(table.c.school_id, *(table.c[k] for k in keys))
        .subquery()
    )
    return (
        select(table)
        .join(newest, (table.c.school_id == newest.c.school_id) & (table.c.id == newest.c.id))
        .where(table.c.school_id == school_id)
    )


def in_force(
    conn: Connection, table: Table, school_id: str, key: str, value: str, keys: Iterable[Any] | None = None
) -> dict[Any, Any]:
    """``{key: value}`` of the newest row per key of a school (all keys, or ``keys``); NULL values left out."""
    query = newest_rows(table, school_id, key)
    if keys is not None:
        query = query.where(table.c[key].in_(list(keys)))
    rows = conn.execute(query.with_only_columns(table.c[key], table.c[value]))
    return {k: v for k, v in rows if v is not None}
