"""Monthly partitions of the big tables on PostgreSQL: events and the daily rollups.

A month's reports read one partition of each rollup table; a month past its retention is one
``DROP TABLE``; and every table stays keyed by school first, so that a distributed PostgreSQL
(Citus) can shard it by ``school_id``.

- ``rollup_presence`` and ``rollup_meal_eaters`` are split by ``local_date``, already in their keys.
- ``events`` is split by ``id``. PostgreSQL wants the partition key in every unique key, and the one
  that makes ingest idempotent is ``(school_id, id)``: adding ``local_date`` to it would let the same
  event id in twice with two times. The id is a UUIDv7, whose first 48 bits are the gateway's clock
  in milliseconds when it made the event, so a range of ids *is* a range of time: each partition
  holds the ids made in one local month. (An id that is not a v7 lands in the default partition:
  still stored once, only not by month.)

Each table has a default partition, so no insert ever fails for want of one; the months are made
ahead (the migration makes 2024–2027, and :func:`ensure_months` the coming ones, from the hourly
report job). SQLite, the embedded database, is not partitioned.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from shared.localtime import LOCAL_TZ

__all__ = ["PARTITIONED", "create_month", "ensure_months", "include_name", "month_starts", "partition_name"]

log = logging.getLogger(__name__)
PARTITIONED = {"events": "id", "rollup_presence": "local_date", "rollup_meal_eaters": "local_date"}


def partition_name(table: str, month: date) -> str:
    """``events_y2026m10``: the partition of ``table`` holding ``month``."""
    return f"{table}_y{month.year}m{month.month:02d}"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: our partitions are storage, not schema, so comparing the schema skips them."""
    partition = any(str(name).startswith(f"{t}_y") or name == f"{t}_default" for t in PARTITIONED)
    return not (type_ == "table" and partition)


def month_starts(first: date, count: int) -> list[date]:
    """The first days of ``count`` months from ``first``'s."""
    out, month = [], first.replace(day=1)
    for _ in range(count):
        out.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


def _bound(column: str, month: date) -> str:
    if column == "local_date":
        return f"'{month.isoformat()}'"
    start_ms = int(datetime.combine(month, time(0), LOCAL_TZ).timestamp() * 1000)
    return f"'{uuid.UUID(int=start_ms << 80)}'"  # the smallest UUID whose 48-bit clock is the month's start


def create_month(conn: Connection, table: str, month: date) -> None:
    """Make the partition of ``table`` for ``month`` if it is not there yet."""
    column = PARTITIONED[table]
    following = month_starts(month, 2)[1]
    conn.execute(
        text(
            f'CREATE TABLE IF NOT EXISTS "{partition_name(table, month)}" PARTITION OF "{table}" '
            f"FOR VALUES FROM ({_bound(column, month)}) TO ({_bound(column, following)})"
        )
    )


def ensure_months(conn: Connection, today: date, ahead: int = 3) -> list[str]:
    """Make this month's partitions and the next ``ahead`` months' (PostgreSQL; nothing on SQLite).

    The partitions that could not be made are named, not raised: PostgreSQL refuses a month whose
    rows already sit in the default partition (an id that is not a v7 can fall anywhere), and the
    other tables' months must not wait for that one.
    """
    failed: list[str] = []
    if conn.dialect.name != "postgresql":
        return failed
    for month in month_starts(today, ahead + 1):
        for table in PARTITIONED:
            try:
                with conn.begin_nested():
                    create_month(conn, table, month)
            except DBAPIError as exc:
                log.error("partition %s not made: %s", partition_name(table, month), exc.orig)
                failed.append(partition_name(table, month))
    return failed
