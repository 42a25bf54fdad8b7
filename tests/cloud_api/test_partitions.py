"""PostgreSQL keeps events and the daily rollups in monthly partitions, and makes the coming months."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cloud_api.app import create_app
from cloud_api.db.partitions import ensure_months
from cloud_api.services.gateways import register_gateway
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from tests.cloud_api.conftest import _truncate
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed

pytestmark = pytest.mark.postgres


def uuid7_at(at: datetime) -> uuid.UUID:
    """A UUIDv7 made at ``at``, as a gateway would have made it then."""
    ms = int(at.timestamp() * 1000)
    return uuid.UUID(
        int=(ms << 80) | (0x7 << 76) | (random.getrandbits(12) << 64) | (0b10 << 62) | random.getrandbits(62)
    )


@pytest.fixture
def started(postgres_url: str) -> Iterator[tuple[TestClient, Engine]]:
    _truncate(postgres_url)
    app = create_app(CloudSettings(database_url=postgres_url, admin_token=ADMIN, push_workers=0))
    with TestClient(app) as client:
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
        yield client, app.state.engine
    _truncate(postgres_url)


def where(engine: Engine, table: str, condition: str, **params: object) -> list[str]:
    with engine.connect() as conn:
        query = text(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {condition}")
        return sorted(conn.execute(query, params).scalars())


def test_an_event_and_its_rollups_land_in_their_months_partitions(started: tuple[TestClient, Engine]) -> None:
    client, engine = started
    made = datetime(2026, 10, 31, 23, 50, tzinfo=LOCAL_TZ)  # ten minutes before November, in Almaty
    late = event(1, id=str(uuid7_at(made)), at=made.isoformat(), person_id=None)
    other = event(2, id=str(uuid.uuid4()), at="2026-11-02T08:00:00+05:00")  # not a v7: still stored, once
    body = batch_body([late, other])
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    body = batch_body([late, other])  # the same batch again: nothing new, whatever the partition
    assert [r["status"] for r in client.post(INGEST_PATH, content=body, headers=signed(body)).json()["results"]] == [
        "duplicate",
        "duplicate",
    ]
    assert where(engine, "events", "id = :id", id=late["id"]) == ["events_y2026m10"]
    assert where(engine, "events", "true") == ["events_default", "events_y2026m10"]
    assert where(engine, "rollup_presence", "true") == ["rollup_presence_y2026m10", "rollup_presence_y2026m11"]


def test_the_coming_months_are_made_ahead_and_a_blocked_month_does_not_stop_the_others(
    started: tuple[TestClient, Engine],
) -> None:
    _, engine = started
    with engine.begin() as conn:
        # A row already in the default partition that belongs to February 2028 blocks that month's events.
        conn.execute(
            text(
                "INSERT INTO rollup_presence (school_id, local_date, person_key, role) "
                "VALUES ('s1', '2028-02-10', 'p', 'student')"
            )
        )
        failed = ensure_months(conn, date(2027, 12, 15))
        again = ensure_months(conn, date(2027, 12, 15))
        made = set(conn.execute(text("SELECT relname FROM pg_class WHERE relname LIKE '%_y2028m0%'")).scalars())
    assert failed == again == ["rollup_presence_y2028m02"]
    assert {"events_y2028m01", "events_y2028m03", "rollup_meal_eaters_y2028m02", "rollup_presence_y2028m03"} <= made
