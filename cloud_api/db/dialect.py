"""The dialect's own INSERT, for ``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["dialect_insert"]

_INSERTS: dict[str, Callable[[Table], Insert]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's own INSERT (the one with ``on_conflict_do_nothing``) for ``table``."""
    try:
        return _INSERTS[conn.dialect.name](table)
    except KeyError:
        raise NotImplementedError(f"the cloud needs SQLite or PostgreSQL, not {conn.dialect.name}") from None
