"""The counters that only go up: taken once each, in commit order, even by the month's first two changes."""

from __future__ import annotations

import threading
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloud_api.services.roster_versions import next_month_version


def _waiting_on_a_lock(app: FastAPI) -> bool:
    with app.state.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return True  # SQLite: the second writer waits on the database's write lock, whenever it comes
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(conn.execute(query).scalar_one())


def test_the_first_two_changes_of_a_month_both_take_a_version(client: TestClient, app: FastAPI) -> None:
    # Two gateways' first batches of November, at the same moment: before, both found no row, both
    # inserted one, and PostgreSQL refused the second batch whole on the unique key.
    engine = app.state.engine
    taken: list[int] = []

    def second_batch() -> None:
        with engine.begin() as conn:
            taken.append(next_month_version(conn, "s1", "2026-11"))

    with engine.begin() as conn:
        taken.append(next_month_version(conn, "s1", "2026-11"))  # the first batch, not yet committed
        other = threading.Thread(target=second_batch)
        other.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(app) and time.monotonic() < deadline:
            time.sleep(0.02)
    other.join(10)
    assert taken == [1, 2]
    with engine.begin() as conn:
        assert next_month_version(conn, "s1", "2026-11") == 3
        assert next_month_version(conn, "s1", "2026-12") == 1  # each month its own count
