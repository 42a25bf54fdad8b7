"""A cloud app per test, on SQLite (a temporary file) and on PostgreSQL (a fresh database per session).

``postgres_url`` (tests/conftest.py) skips the PostgreSQL half when the server is not reachable,
and fails it instead when ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cloud_api.app import create_app
from cloud_api.db.schema import metadata
from cloud_api.services.gateways import register_gateway
from cloud_api.settings import CloudSettings
from tests.cloud_api.helpers import ADMIN, KEY, KEY2

# Every table of the schema, so that a table added later is emptied too.
TABLES = ", ".join(table.name for table in metadata.sorted_tables)


def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.has_table(conn, "events"):
                conn.execute(text(f"TRUNCATE {TABLES}"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    yield url
    _truncate(url)


@pytest.fixture
def settings(database_url: str) -> CloudSettings:
    """Settings for a test app on ``database_url``."""
    return CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0)  # the push tests start theirs


@pytest.fixture
def app(settings: CloudSettings) -> FastAPI:
    """A fresh app (not started)."""
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The started app, with gateways gw1 (school s1) and gw2 (school s2) registered."""
    with TestClient(app) as c:
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY2)
        yield c
