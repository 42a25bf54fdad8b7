"""Engines for SQLite (embedded, the demo) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from cloud_api.core.data_keys import DataKeys, development_keys
from cloud_api.db.types import attach_data_keys

__all__ = ["BUSY_TIMEOUT_S", "CONNECT_TIMEOUT_S", "make_engine"]

BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5


def make_engine(database_url: str, keys: DataKeys | None = None) -> Engine:
    """An engine for ``database_url``; SQLite gets WAL, FULL sync, foreign keys and a busy timeout.

    ``keys`` encrypt and decrypt its personal data (``CloudSettings.data_keys()``); None: the
    development key, which is what the demo, the benchmarks and the tests run with.
    The parent directory of a SQLite file is created: the default ``var/cloud/cloud.db`` must
    work on a fresh checkout.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # A bounded connect: /healthz must answer 503 promptly when the database host is gone.
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
        )
        attach_data_keys(engine.dialect, keys or development_keys())
        return engine
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # sqlite3's ``timeout`` is SQLite's busy timeout: a writer waits for another instead of failing.
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    attach_data_keys(engine.dialect, keys or development_keys())

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # The cloud acknowledges delivery and the gateway then forgets: what it answered
        # "accepted" must survive a power cut, so every commit is synced (NORMAL may lose the last).
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        # SQLite's own lower() folds ASCII only: searching "нұр" would miss "Нұрланова". PostgreSQL's
        # is Unicode-aware, so the same query means the same on both.
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)

    return engine


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value
