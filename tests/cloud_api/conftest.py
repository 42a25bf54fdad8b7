"""A cloud app per test, on SQLite or PostgreSQL, with one registered gateway."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cloud_api.app import create_app
from cloud_api.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, INGEST_PATH, sign
from cloud_api.services.gateways import register_gateway
from cloud_api.settings import CloudSettings

KEY = "gateway-secret"
ADMIN = "admin-token-for-tests"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, packets, gateways"))
    engine.dispose()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(CloudSettings(database_url=database_url, admin_token=ADMIN))
    with TestClient(app) as c:
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY + "2")
        yield c


def event(seq: int, *, at: str = "2026-11-20T08:00:00+05:00", school: str = "s1", **kw: Any) -> dict[str, Any]:
    from uuid6 import uuid7

    return {
        "id": str(uuid7()), "seq": seq, "school_id": school, "gateway_id": "gw1", "device_id": "r1",
        "kind": "entry", "occurred_at": at, "decision": "granted", "reason": "no_roster", **kw,
    }  # fmt: skip


def signed(body: bytes, *, key: str = KEY, gateway: str = "gw1", ts: int | None = None) -> dict[str, str]:
    timestamp = str(ts if ts is not None else int(time.time()))
    return {
        HEADER_GATEWAY: gateway,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(key.encode(), "POST", INGEST_PATH, timestamp, body),
        "Content-Type": "application/json",
    }


def batch_body(events: list[dict[str, Any]], gateway: str = "gw1") -> bytes:
    return json.dumps({"gateway_id": gateway, "sent_at": datetime.now(UTC).isoformat(), "events": events}).encode()
