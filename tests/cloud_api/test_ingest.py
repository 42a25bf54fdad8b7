"""Ingest: signed, idempotent, per-event answers, nothing stored of a refused batch."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud_api.contract import INGEST_PATH
from cloud_api.db.schema import events, packets
from tests.cloud_api.conftest import ADMIN, batch_body, event, signed


def count(client: TestClient, table) -> int:  # type: ignore[no-untyped-def]
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_replaying_a_batch_changes_nothing(client: TestClient) -> None:
    evs = [event(i) for i in range(1, 6)]
    statuses = []
    for _ in range(3):
        body = batch_body(evs)  # re-signed each time, as the gateway's retries are
        r = client.post(INGEST_PATH, content=body, headers=signed(body))
        assert r.status_code == 200, r.text
        statuses.append({x["status"] for x in r.json()["results"]})
        time.sleep(0.001)
    assert statuses == [{"accepted"}, {"duplicate"}, {"duplicate"}]
    assert count(client, events) == 5
    assert count(client, packets) == 3  # every packet received is kept


def test_byte_identical_replay_is_refused(client: TestClient) -> None:
    body = batch_body([event(1)])
    headers = signed(body)
    assert client.post(INGEST_PATH, content=body, headers=headers).status_code == 200
    r = client.post(INGEST_PATH, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "replayed"
    assert count(client, packets) == 1


def test_bad_unknown_stale_or_missing_signature_stores_nothing(client: TestClient) -> None:
    body = batch_body([event(1)])
    cases = {
        "bad_signature": signed(body, key="wrong"),
        "unknown_gateway": signed(body, gateway="gw-nobody"),
        "stale_timestamp": signed(body, ts=int(time.time()) - 3600),
        "missing_signature": {"Content-Type": "application/json"},
    }
    for code, headers in cases.items():
        r = client.post(INGEST_PATH, content=body, headers=headers)
        assert (r.status_code, r.json()["detail"]["code"]) == (401, code)
    assert count(client, events) == 0 and count(client, packets) == 0


def test_malformed_batch_is_422_naming_the_field(client: TestClient) -> None:
    bad = event(2)
    bad["occurred_at"] = "2026-11-20T08:00:00"  # no offset
    body = batch_body([event(1), bad])
    r = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["field"] == "events.1.occurred_at"
    body = b"{not json"
    r = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert r.status_code == 422
    assert count(client, events) == 0 and count(client, packets) == 0


def test_oversized_batch_is_413(client: TestClient) -> None:
    body = b"x" * (4 * 1024 * 1024 + 1)
    r = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"


def test_events_of_another_school_are_rejected_the_rest_accepted(client: TestClient) -> None:
    evs = [event(1), event(2, school="s2"), event(3)]
    body = batch_body(evs)
    results = client.post(INGEST_PATH, content=body, headers=signed(body)).json()["results"]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("accepted", None), ("rejected", "school_mismatch"), ("accepted", None)
    ]
    assert count(client, events) == 2


def test_read_back_by_local_day_in_seq_order(client: TestClient) -> None:
    evs = [
        event(3, at="2026-11-20T23:30:00+05:00"),  # UTC 18:30 on the 20th
        event(1, at="2026-11-20T08:00:00+05:00"),
        event(2, at="2026-11-21T02:00:00+05:00"),  # UTC 21:00 on the 20th, locally the 21st
        event(4, at="2026-11-19T20:30:00+00:00"),  # UTC the 19th, locally 01:30 on the 20th
    ]
    body = batch_body(evs)
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    auth = {"Authorization": f"Bearer {ADMIN}"}
    day = client.get("/v1/schools/s1/events", params={"date": "2026-11-20"}, headers=auth)
    assert [e["seq"] for e in day.json()] == [1, 3, 4]
    nxt = client.get("/v1/schools/s1/events", params={"date": "2026-11-21"}, headers=auth).json()
    assert [e["seq"] for e in nxt] == [2]
    assert "credential_hash" not in nxt[0]
    assert client.get("/v1/schools/s1/events", params={"date": "2026-11-20"}).status_code == 401


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    spec = client.get("/openapi.json").json()
    op = spec["paths"][INGEST_PATH]["post"]
    assert op["requestBody"]["content"]["application/json"]["example"]["events"]
    assert {"200", "401", "413", "422"} <= set(op["responses"])
    assert "Batch" in spec["components"]["schemas"]
