"""Every gateway watched: its signed heartbeat stored as its latest health and in a day's history; the
cloud's own /metrics shows the process, the database and the delivery queues."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, func, select

from cloud_api.db.schema import events, gateway_health, gateway_heartbeats, push_queue
from cloud_api.services.gateway_health import prune_heartbeats, store_heartbeat
from cloud_api.services.gateways import GatewayRecord, register_gateway
from cloud_api.services.process_health import CloudHealthCollector
from cloud_api.services.signatures import SignedBody
from device_drivers.base import Direction, LinkDriver, ReadSink
from gateway.app import Gateway
from gateway.site.config import parse_site
from gateway.taps.policy import AccessPoint, Place
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Heartbeat, heartbeat_path, sign
from tests.cloud_api.helpers import KEY

ON_CITUS = {
    "test_a_heartbeat_is_stored_as_the_gateways_latest_and_in_its_history",
    "test_a_replayed_or_unsigned_heartbeat_is_refused_and_stores_nothing",
}


def beat(gateway: str = "gw1", **fields: Any) -> dict[str, Any]:
    """A heartbeat as a gateway sends it; ``fields`` override."""
    example = dict(Heartbeat.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    return {**example, "gateway_id": gateway, "sent_at": datetime.now(UTC).isoformat(), **fields}


def post(
    client: TestClient, body: dict[str, Any], *, gateway: str = "gw1", key: str = KEY, path_gateway: str | None = None
) -> httpx.Response:
    raw = json.dumps(body).encode()
    path = heartbeat_path(path_gateway or gateway)
    ts = str(int(time.time()))
    headers = {
        HEADER_GATEWAY: gateway,
        HEADER_TIMESTAMP: ts,
        HEADER_SIGNATURE: sign(key.encode(), "POST", path, ts, raw),
        "Content-Type": "application/json",
    }
    return client.post(path, content=raw, headers=headers)


def rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        latest = conn.execute(select(func.count()).select_from(gateway_health)).scalar_one()
        history = conn.execute(select(func.count()).select_from(gateway_heartbeats)).scalar_one()
    return int(latest), int(history)


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_heartbeat_is_stored_as_the_gateways_latest_and_in_its_history(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    sent = datetime.now(UTC) - timedelta(seconds=3)  # a gateway three seconds behind
    first = post(client, beat(sent_at=sent.isoformat(), parts={"link:in-1": "offline", "forwarder": "ok"}))
    assert first.status_code == 200, first.text
    answer = first.json()
    received = datetime.fromisoformat(answer["received_at"])
    assert abs((received - datetime.now(UTC)).total_seconds()) < 60
    assert answer["clock_offset_s"] < -2.5
    second = post(client, beat(disk_free_bytes=1234, outbox_pending=7, oldest_pending_age_s=95.5, version="0.2.0"))
    assert second.status_code == 200, second.text
    assert rows(engine) == (1, 2)
    with engine.connect() as conn:
        latest = conn.execute(select(gateway_health)).one()._mapping
        history = conn.execute(select(gateway_heartbeats).order_by(gateway_heartbeats.c.received_at)).all()
    assert (latest["school_id"], latest["gateway_id"], latest["version"]) == ("s1", "gw1", "0.2.0")
    assert (latest["disk_free_bytes"], latest["outbox_pending"], latest["oldest_pending_age_s"]) == (1234, 7, 95.5)
    assert latest["memory_total_bytes"] == 4_000_000_000 and latest["links"] == {"eth0": True}
    assert latest["parts"]["forwarder"] == "ok"
    # only what was wrong is kept in the history
    assert [h.not_ok for h in history] == [{"link:in-1": "offline"}, None]
    assert history[0].clock_offset_s < -2.5
    stored = client.get("/metrics").text
    assert metrics(stored)[("mektep_heartbeats_total", ())] >= 2


def test_a_replayed_or_unsigned_heartbeat_is_refused_and_stores_nothing(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    raw = json.dumps(beat()).encode()
    path, ts = heartbeat_path("gw1"), str(int(time.time()))
    headers = {
        HEADER_GATEWAY: "gw1",
        HEADER_TIMESTAMP: ts,
        HEADER_SIGNATURE: sign(KEY.encode(), "POST", path, ts, raw),
        "Content-Type": "application/json",
    }
    assert client.post(path, content=raw, headers=headers).status_code == 200
    replay = client.post(path, content=raw, headers=headers)
    assert replay.status_code == 401, replay.text
    assert (replay.status_code, replay.json()["detail"]["code"]) == (401, "replayed")
    unsigned = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert (unsigned.status_code, unsigned.json()["detail"]["code"]) == (401, "missing_signature")
    forged = post(client, beat(), key="not-the-gateways-key-at-all")
    assert (forged.status_code, forged.json()["detail"]["code"]) == (401, "bad_signature")
    # gw2's key, gw1's path: a gateway speaks only for itself
    other = post(client, beat("gw2"), gateway="gw2", key="gateway-secret-key-2", path_gateway="gw1")
    assert (other.status_code, other.json()["detail"]["code"]) == (401, "gateway_mismatch")
    assert rows(engine) == (1, 1)


def test_an_unreadable_heartbeat_is_refused_naming_the_field(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    answer = post(client, beat(disk_free_ratio=1.5, surprise=1))
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["detail"]["errors"]}
    assert fields == {"disk_free_ratio", "surprise"}
    assert rows(engine) == (0, 0)


def test_the_history_keeps_a_day_and_the_latest_stays(engine: Engine) -> None:
    with engine.begin() as conn:
        register_gateway(conn, "gw1", "s1", KEY)
    signer = GatewayRecord("gw1", "s1", KEY.encode())
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for hours_ago in (30, 25, 2):
            at = now - timedelta(hours=hours_ago)
            signed = SignedBody(signer, b"{}", str(int(at.timestamp())), f"sig-{hours_ago}")
            store_heartbeat(conn, signed, "gw1", Heartbeat.model_validate(beat(sent_at=at.isoformat())), at)
    with engine.begin() as conn:
        assert prune_heartbeats(conn, now, timedelta(hours=24)) == 2
    assert rows(engine) == (1, 1)


def test_cloud_metrics_show_the_process_the_database_and_the_queues(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    waiting_since = datetime.now(UTC) - timedelta(minutes=20)
    with engine.begin() as conn:
        conn.execute(
            push_queue.insert().values(
                school_id="s1",
                event_id=uuid4(),
                person_id=uuid4(),
                kind="entry",
                occurred_at=waiting_since,
                state="pending",
                attempts=0,
                due_at=waiting_since,
            )
        )
    found = metrics(client.get("/metrics").text)
    assert found[("mektep_cloud_database_up", ())] == 1
    assert found[("mektep_cloud_memory_total_bytes", ())] > 0
    assert found[("mektep_cloud_process_open_fds", ())] > 0
    assert 0 <= found[("mektep_cloud_cpu_ratio", ())] <= 1
    assert found[("mektep_cloud_queue_pending", (("queue", "push"),))] == 1
    assert found[("mektep_cloud_queue_oldest_age_seconds", (("queue", "push"),))] >= 20 * 60
    assert found[("mektep_cloud_queue_pending", (("queue", "wallet"),))] == 0
    assert found[("mektep_cloud_queue_oldest_age_seconds", (("queue", "reports"),))] == 0
    if engine.dialect.name == "sqlite":
        assert 0 < found[("mektep_cloud_disk_free_ratio", ())] <= 1


def test_an_unreachable_database_reads_as_down(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'cloud.db'}")
    collector = CloudHealthCollector(engine, timeout_s=5)
    try:
        found = {m.name: m for m in collector.collect()}
    finally:
        collector.close()
    assert found["mektep_cloud_database_up"].samples[0].value == 0
    assert "mektep_cloud_queue_pending" not in found


class Idle(LinkDriver):
    """A reader link that opens and then waits: online until the gateway stops."""

    def __init__(self, link: str) -> None:
        super().__init__()
        self.link_id, self.reader_ids = link, (link,)

    async def open(self) -> None: ...

    async def read(self, sink: ReadSink) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None: ...

    def feedback(self, reader_id: str, feedback: Any) -> None: ...


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_gateways_heartbeat_reaches_the_cloud_and_both_metrics_show_it(
    client: TestClient, tmp_path: Path
) -> None:
    app = client.app
    site = parse_site(
        f"""
school: {{id: s1, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path / "gw"}}}
cloud: {{url: "http://cloud", heartbeat_interval_s: 0.2, sync_interval_s: 60}}
"""
    )
    gateway = Gateway(
        site,
        key=KEY.encode(),
        credential_key=b"c",
        drivers=[Idle("in-1")],
        points={"in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)},
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        ui_port=0,
    )
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.started.wait(), 20)
        for _ in range(400):
            if gateway.heartbeat.stats.sent >= 2:
                break
            await asyncio.sleep(0.05)
        assert gateway.heartbeat.stats.sent >= 2, gateway.heartbeat.stats
        engine = app.state.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            latest = conn.execute(select(gateway_health).where(gateway_health.c.gateway_id == "gw1")).one()._mapping
        assert latest["memory_total_bytes"] > 0 and 0 < latest["disk_free_ratio"] <= 1
        assert latest["parts"]["link:in-1"] == "ok" and latest["parts"]["pages"] == "ok"
        assert latest["version"] == gateway.version
        # the second heartbeat carries the offset measured from the first answer: one clock here
        assert abs(latest["reported_clock_offset_s"]) < 5
        async with httpx.AsyncClient(base_url=gateway.ui_url or "") as local:
            text = (await local.get("/metrics")).text
            status = (await local.get("/api/status")).json()
        found = metrics(text)
        assert found[("mektep_gateway_memory_total_bytes", ())] > 0
        assert 0 < found[("mektep_gateway_disk_free_ratio", ())] <= 1
        assert found[("mektep_gateway_part_state", (("part", "link:in-1"), ("state", "ok")))] == 1
        assert found[("mektep_gateway_part_state", (("part", "link:in-1"), ("state", "offline")))] == 0
        assert found[("mektep_gateway_part_state", (("part", "forwarder"), ("state", "ok")))] == 1
        assert found[("mektep_gateway_outbox_oldest_pending_age_seconds", ())] == 0
        assert abs(found[("mektep_gateway_clock_offset_seconds", ())]) < 5
        assert found[("mektep_gateway_build_info", (("version", gateway.version),))] == 1
        assert found[("mektep_gateway_heartbeats_total", (("outcome", "sent"),))] >= 2
        assert found[("mektep_gateway_network_sent_bytes_total", ())] >= 0
        assert status["health"]["parts"]["heartbeat"] == "ok"
        assert status["health"]["host"]["memory_total_bytes"] > 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(gateway_heartbeats)).scalar_one() >= 2
        # a heartbeat is not an event: the only events are the reader link's own status
        kinds = conn.execute(select(events.c.kind).distinct()).scalars().all()
        assert kinds == ["device_status"]
