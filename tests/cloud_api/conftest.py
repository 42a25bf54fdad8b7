"""A cloud app per test, on SQLite (a temporary file) and on PostgreSQL (a fresh database per session).

    database_url   an empty database, SQLite and PostgreSQL (each test runs on both)
    engine         that database migrated, as a SQLAlchemy engine (for the services' tests)
    settings, app  a cloud app on it, not started; ``client`` starts it, gateways gw1 (s1), gw2 (s2)
    world          the sample school of ``tests/cloud_api/school.py``: rosters and an account of each role

``postgres_url`` (tests/conftest.py) skips the PostgreSQL half when the server is not reachable,
and fails it instead when ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text

from cloud_api.app import create_app
from cloud_api.db.distribution import is_citus
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import metadata
from cloud_api.services.gateways import register_gateway
from cloud_api.settings import CloudSettings
from tests.cloud_api.helpers import ADMIN, KEY, KEY2
from tests.cloud_api.school import World, seed_world


def _truncate(url: str) -> None:
    """Empty every table of the schema the database has (a table added later is emptied too)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if not conn.dialect.has_table(conn, "events"):
                return
            # A migration test may have left the database at an older revision: empty what is there
            # (the next test's upgrade makes the rest).
            there = set(inspect(conn).get_table_names())
            tables = [table for table in reversed(metadata.sorted_tables) if table.name in there]
            if is_citus(conn):
                # A TRUNCATE of every shard of every monthly partition takes Citus over a second;
                # deleting the few rows a test wrote takes a tenth of that.
                for table in tables:
                    conn.execute(table.delete())
                return
            # Only the tables a test wrote to: a TRUNCATE of all seventy makes new files for each and
            # their indexes (2-4 s on this machine's disk, twice a test: a third of `make test`). Not
            # DELETE: rows written after it may take the dead rows' place, and a test reading without
            # ORDER BY would see them out of the order they were written in.
            written = conn.execute(
                text(" UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM {t.name})" for t in tables))
            ).scalars()
            names = list(written)
            if names:
                conn.execute(text(f"TRUNCATE {', '.join(names)}"))
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("citus", marks=pytest.mark.citus),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, the session's PostgreSQL database or Citus cluster emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
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
        # What a browser sends with every request its page makes to its own site; a test of a
        # request from elsewhere says so with its own Origin.
        c.headers["Origin"] = "http://testserver"
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY2)
        yield c


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The empty database, migrated: what the services' tests write to."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def world(client: TestClient, app: FastAPI) -> World:
    """The sample school on the started app: two schools' rosters and an account of each role."""
    return seed_world(client, app)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run on Citus only the tests a module names in ``ON_CITUS`` when it names any.

    The office's page tests (canteen, money, ratings, the Wallet, the region's desks) walk their main
    flows on the cluster in the tests each module names, and their other cases (the refusals of
    forms, the wording of the pages) on SQLite and PostgreSQL: the same SQL, each case again on the
    cluster, would add minutes to ``make test`` and show nothing new about it.
    """
    left = [
        item
        for item in items
        if getattr(getattr(item, "callspec", None), "params", {}).get("database_url") == "citus"
        and (chosen := getattr(getattr(item, "module", None), "ON_CITUS", None)) is not None
        and getattr(item, "originalname", item.name) not in chosen
    ]
    if left:
        config.hook.pytest_deselected(items=left)
        dropped = {id(item) for item in left}
        items[:] = [item for item in items if id(item) not in dropped]
