"""Ingest: signed, idempotent, per-event answers, nothing stored of a refused batch."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from cloud_api.db.schema import events, free_meals, packets
from shared.contract import INGEST_PATH, BatchResult
from tests.cloud_api.helpers import KEY2, admin, batch_body, count, event, signed

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_replaying_a_batch_changes_nothing",
    "test_new_and_known_events_in_one_batch_are_answered_in_order",
    "test_the_same_event_twice_in_one_batch_is_stored_once",
    "test_the_packet_journal_keeps_the_batch_with_its_signature",
    "test_a_free_meal_is_paid_for_once_whatever_the_gateways_send",
    "test_events_of_another_school_or_gateway_are_rejected_the_rest_accepted",
)


def post(client: TestClient, evs: list[dict[str, object]], **sign_kw: object) -> dict[str, object]:
    body = batch_body(evs, gateway=str(sign_kw.get("gateway", "gw1")))
    response = client.post(INGEST_PATH, content=body, headers=signed(body, **sign_kw))  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("mektep_ingest_refused_total", {"reason": reason}) or 0.0


def test_replaying_a_batch_changes_nothing(client: TestClient) -> None:
    evs = [event(i) for i in range(1, 6)]
    answers = []
    for _ in range(3):
        answers.append(post(client, evs))  # re-signed each time, as the forwarder's retries are
        time.sleep(0.001)
    assert [{r["status"] for r in a["results"]} for a in answers] == [{"accepted"}, {"duplicate"}, {"duplicate"}]
    for answer in answers:
        assert [r["id"] for r in answer["results"]] == [e["id"] for e in evs]  # batch order
        BatchResult.model_validate(answer)  # the gateway parses the answer with the contract
    assert count(client.app, events) == 5
    with client.app.state.engine.connect() as conn:
        batch_ids = {row.batch_id for row in conn.execute(select(events.c.batch_id))}
    assert batch_ids == {answers[0]["batch_id"]}  # the replays changed no row
    assert count(client.app, packets) == 3  # every packet received is kept


def test_new_and_known_events_in_one_batch_are_answered_in_order(client: TestClient) -> None:
    known = [event(1), event(2)]
    post(client, known)
    fresh = event(3)
    answer = post(client, [known[1], fresh, known[0]])
    assert [(r["id"], r["status"]) for r in answer["results"]] == [
        (known[1]["id"], "duplicate"),
        (fresh["id"], "accepted"),
        (known[0]["id"], "duplicate"),
    ]


def test_the_same_event_twice_in_one_batch_is_stored_once(client: TestClient) -> None:
    one = event(1)
    answer = post(client, [one, one])
    assert [(r["status"], r.get("reason")) for r in answer["results"]] == [
        ("accepted", None),
        ("duplicate", "repeated_in_batch"),
    ]
    assert count(client.app, events) == 1


def test_byte_identical_replay_is_refused_and_stores_nothing(client: TestClient) -> None:
    body = batch_body([event(1)])
    headers = signed(body)
    assert client.post(INGEST_PATH, content=body, headers=headers).status_code == 200
    before = refused("replayed")
    r = client.post(INGEST_PATH, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "replayed"
    assert refused("replayed") == before + 1
    assert count(client.app, packets) == 1 and count(client.app, events) == 1


def test_bad_unknown_stale_or_missing_signature_stores_nothing(client: TestClient) -> None:
    body = batch_body([event(1)])
    good = signed(body)
    cases = {
        "bad_signature": signed(body, key="not-the-gateway-key"),
        "unknown_gateway": signed(body, gateway="gw-nobody"),
        "stale_timestamp": signed(body, ts=int(time.time()) - 3600),
        "missing_signature": {"Content-Type": "application/json"},
    }
    tampered = {**good, "X-Mektep-Timestamp": str(int(time.time()) + 1)}  # signed with another timestamp
    for code, headers in [*cases.items(), ("bad_signature", tampered)]:
        before = refused(code)
        r = client.post(INGEST_PATH, content=body, headers=headers)
        assert (r.status_code, r.json()["detail"]["code"]) == (401, code)
        assert refused(code) == before + 1
    other_body = body.replace(b'"r1"', b'"r2"')  # the signature no longer covers the body
    r = client.post(INGEST_PATH, content=other_body, headers=good)
    assert (r.status_code, r.json()["detail"]["code"]) == (401, "bad_signature")
    assert count(client.app, events) == 0 and count(client.app, packets) == 0


def test_a_future_timestamp_outside_the_skew_is_stale(client: TestClient) -> None:
    body = batch_body([event(1)])
    r = client.post(INGEST_PATH, content=body, headers=signed(body, ts=int(time.time()) + 3600))
    assert r.json()["detail"]["code"] == "stale_timestamp"


def test_a_batch_naming_another_gateway_than_its_signer_is_refused(client: TestClient) -> None:
    body = batch_body([event(1)], gateway="gw1")
    r = client.post(INGEST_PATH, content=body, headers=signed(body, key=KEY2, gateway="gw2"))
    assert (r.status_code, r.json()["detail"]["code"]) == (401, "gateway_mismatch")
    assert count(client.app, events) == 0 and count(client.app, packets) == 0


def test_malformed_batch_is_422_naming_the_field(client: TestClient) -> None:
    bad = event(2)
    bad["occurred_at"] = "2026-11-20T08:00:00"  # no offset
    evs = [event(1), event(2), event(3), bad]
    body = batch_body(evs)
    before = refused("invalid_batch")
    r = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["code"] == "invalid_batch"
    assert detail["errors"][0]["field"] == "events.3.occurred_at"
    assert detail["message"].startswith("events.3.occurred_at: ")
    assert refused("invalid_batch") == before + 1
    for raw in (b"{not json", b"", json.dumps({"gateway_id": "gw1", "sent_at": "2026-11-20T08:00:00Z"}).encode()):
        r = client.post(INGEST_PATH, content=raw, headers=signed(raw))
        assert r.status_code == 422, raw
    assert r.json()["detail"]["errors"][0]["field"] == "events"
    assert count(client.app, events) == 0 and count(client.app, packets) == 0


def test_oversized_batch_is_413_by_content_length(client: TestClient) -> None:
    body = b"x" * (4 * 1024 * 1024 + 1)
    before = refused("too_large")
    r = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert (r.status_code, r.json()["detail"]["code"]) == (413, "too_large")
    assert refused("too_large") == before + 1


def test_oversized_chunked_batch_is_413_while_reading(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * (1024 * 1024)

    r = client.post(INGEST_PATH, content=chunks(), headers=signed(b"irrelevant"))
    assert (r.status_code, r.json()["detail"]["code"]) == (413, "too_large")
    assert count(client.app, packets) == 0


def test_events_of_another_school_or_gateway_are_rejected_the_rest_accepted(client: TestClient) -> None:
    evs = [event(1), event(2, school="s2"), event(3), event(4, gateway_id="gw2")]
    answer = post(client, evs)
    assert [(r["status"], r.get("reason")) for r in answer["results"]] == [
        ("accepted", None),
        ("rejected", "school_mismatch"),
        ("accepted", None),
        ("rejected", "gateway_mismatch"),
    ]
    assert count(client.app, events) == 2


def test_text_postgresql_cannot_store_is_rejected_on_both_backends(client: TestClient) -> None:
    evs = [event(1, reason="bad\u0000reason"), event(2, person_id="p\x001"), event(3)]
    answer = post(client, evs)
    assert [r.get("reason") for r in answer["results"]] == ["nul_character", "nul_character", None]
    assert count(client.app, events) == 1


def test_instants_that_do_not_fit_are_rejected_not_a_500(client: TestClient) -> None:
    evs = [
        event(1, at="0001-01-01T00:00:00+05:00"),
        event(2, at="9999-12-31T23:59:59-05:00"),
        event(2**63),
        event(4),
    ]
    answer = post(client, evs)
    assert [r.get("reason") for r in answer["results"]] == [
        "occurred_at_out_of_range",
        "occurred_at_out_of_range",
        "seq_out_of_range",
        None,
    ]


def test_the_packet_journal_keeps_the_batch_with_its_signature(client: TestClient) -> None:
    evs = [event(1), event(2, school="s2")]
    body = batch_body(evs)
    headers = signed(body)
    answer = client.post(INGEST_PATH, content=body, headers=headers).json()
    with client.app.state.engine.connect() as conn:
        row = conn.execute(select(packets)).one()
    assert row.id == answer["batch_id"]
    assert (row.direction, row.gateway_id, row.method, row.path) == ("in", "gw1", "POST", INGEST_PATH)
    assert (row.signature, row.timestamp) == (headers["X-Mektep-Signature"], headers["X-Mektep-Timestamp"])
    assert row.body == body and len(row.body_sha256) == 64
    assert (row.status_code, row.accepted, row.duplicates, row.rejected) == (200, 1, 0, 1)
    assert json.loads(row.response) == answer
    assert row.received_at.tzinfo is not None
    # The signature is still verifiable from what was kept (its authentication stays verifiable).
    from shared.contract import verify

    assert verify(b"gateway-secret-key-1", row.method, row.path, row.timestamp, row.body, row.signature)


def test_no_meal_is_sql_null(client: TestClient) -> None:
    post(client, [event(1)])
    with client.app.state.engine.connect() as conn:
        assert conn.execute(select(events.c.id).where(events.c.meal.is_(None))).first() is not None


def test_a_rotated_key_takes_effect_at_once(client: TestClient) -> None:
    from cloud_api.services.gateways import register_gateway

    with client.app.state.engine.begin() as conn:
        register_gateway(conn, "gw1", "s1", "a-brand-new-gateway-key")
    body = batch_body([event(1)])
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).json()["detail"]["code"] == "bad_signature"
    r = client.post(INGEST_PATH, content=body, headers=signed(body, key="a-brand-new-gateway-key"))
    assert r.status_code == 200


def test_a_manual_entry_keeps_who_entered_it_and_why(client: TestClient) -> None:
    manual = {"staff_id": "cook-1", "reason": "forgot the card"}
    evs = [event(1, credential_kind="manual", manual=manual), event(2, manual={"staff_id": "c", "reason": "a\x00"})]
    answer = post(client, evs)
    assert [r.get("reason") for r in answer["results"]] == [None, "nul_character"]
    with client.app.state.engine.connect() as conn:
        assert conn.execute(select(events.c.manual)).scalar_one() == manual


def test_a_free_meal_is_paid_for_once_whatever_the_gateways_send(client: TestClient) -> None:
    child = "0190a000-0000-7000-8000-00000000000c"
    lunch = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
    conflicts = REGISTRY.get_sample_value("mektep_free_meal_conflicts_total") or 0.0
    first = event(1, kind="meal", person_id=child, reason="on_roster", meal=lunch, at="2026-11-24T12:10:00+05:00")
    # a second lunch the same day (a replaced gateway that forgot the first), and one in the same batch
    again = event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at="2026-11-24T13:40:00+05:00")
    twice = event(3, kind="meal", person_id=child, reason="on_roster", meal=lunch, at="2026-11-24T13:45:00+05:00")
    tomorrow = event(4, kind="meal", person_id=child, reason="on_roster", meal=lunch, at="2026-11-25T12:10:00+05:00")
    post(client, [first])
    answer = post(client, [first, again, twice, tomorrow])  # the first again: a duplicate, no conflict
    assert [r["status"] for r in answer["results"]] == ["duplicate", "accepted", "accepted", "accepted"]
    with client.app.state.engine.connect() as conn:
        claims = conn.execute(select(free_meals.c.local_date, free_meals.c.event_id).order_by(free_meals.c.local_date))
        assert [(str(day), str(event_id)) for day, event_id in claims] == [
            ("2026-11-24", first["id"]),
            ("2026-11-25", tomorrow["id"]),
        ]
        assert count(client.app, events) == 4  # what happened is all kept
    assert (REGISTRY.get_sample_value("mektep_free_meal_conflicts_total") or 0.0) - conflicts == 2


def test_a_credential_kind_the_cloud_does_not_know_yet_is_stored_and_counted(client: TestClient) -> None:
    # A reader protocol shipped on a gateway before the cloud learnt its name: refusing the event
    # would make the forwarder set aside every tap at that reader.
    before = REGISTRY.get_sample_value("mektep_ingest_unknown_credential_kinds_total", {"kind": "nfc_desfire"}) or 0.0
    new_reader = event(1, credential_kind="nfc_desfire", credential_hash="ab" * 32)
    known = event(2, credential_kind="em4100")
    answer = post(client, [new_reader, known])
    assert [r["status"] for r in answer["results"]] == ["accepted", "accepted"]
    after = REGISTRY.get_sample_value("mektep_ingest_unknown_credential_kinds_total", {"kind": "nfc_desfire"})
    assert after == before + 1  # the known kind is not counted
    shown = client.get("/v1/schools/s1/events", params={"date": "2026-11-20"}, headers=admin())
    assert shown.status_code == 200, shown.text
    assert {e["seq"]: e["credential_kind"] for e in shown.json()} == {1: "nfc_desfire", 2: "em4100"}


def test_a_credential_kind_that_is_no_name_at_all_is_still_refused(client: TestClient) -> None:
    body = batch_body([event(1, credential_kind="x" * 33)])
    response = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert response.status_code == 422
    assert {
        e["field"].split(".")[:3] == ["events", "0", "credential_kind"] for e in response.json()["detail"]["errors"]
    } == {True}
