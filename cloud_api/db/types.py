"""Column types that keep the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

__all__ = ["BigIntegerId", "UTCDateTime"]

# An autoincrementing 64-bit id: SQLite only autoincrements a column spelled INTEGER PRIMARY KEY
# (already 64-bit there), PostgreSQL needs BIGINT to outlive 2^31 packets.
BigIntegerId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend.

    PostgreSQL's ``timestamptz`` converts on its own, but SQLite stores the wall-clock digits and
    drops the offset: ``08:00+05:00`` would come back as a naive ``08:00``. So bind values are
    converted to UTC first and naive results are read as UTC. A naive value is a bug: refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware datetime → the same instant in UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the cloud stores instants, give an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Whatever the driver returns → an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]
