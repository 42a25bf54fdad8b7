"""Read-back: a school's events of one local day (Asia/Almaty), in gateway and seq order, admin only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_api.app import create_app
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from tests.cloud_api.helpers import ADMIN, KEY2, admin, batch_body, event, signed

DAY = "/v1/schools/s1/events"


def deliver(client: TestClient, evs: list[dict[str, Any]], gateway: str = "gw1", key: str | None = None) -> None:
    body = batch_body(evs, gateway=gateway)
    headers = signed(body, gateway=gateway, **({"key": key} if key else {}))
    r = client.post(INGEST_PATH, content=body, headers=headers)
    assert r.status_code == 200 and all(x["status"] == "accepted" for x in r.json()["results"]), r.text


def day(client: TestClient, date: str, school: str = "s1", **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"/v1/schools/{school}/events", params={"date": date, **params}, headers=admin())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_day_is_the_local_day_not_the_utc_day(client: TestClient) -> None:
    deliver(
        client,
        [
            event(3, at="2026-11-20T23:30:00+05:00"),  # UTC 18:30 on the 20th: locally the 20th
            event(1, at="2026-11-20T08:00:00+05:00"),
            event(2, at="2026-11-21T02:00:00+05:00"),  # UTC 21:00 on the 20th, locally the 21st
            event(4, at="2026-11-19T20:30:00+00:00"),  # UTC the 19th, locally 01:30 on the 20th
            event(5, at="2026-11-20T00:00:00+05:00"),  # local midnight opens the 20th
            event(6, at="2026-11-20T23:59:59.999999+05:00"),  # and this closes it
        ],
    )
    assert [e["seq"] for e in day(client, "2026-11-20")] == [1, 3, 4, 5, 6]
    nxt = day(client, "2026-11-21")
    assert [e["seq"] for e in nxt] == [2]
    assert nxt[0]["local_date"] == "2026-11-21"
    assert day(client, "2026-11-19") == []


def test_the_instant_comes_back_with_the_offset_it_was_recorded_with(client: TestClient) -> None:
    deliver(client, [event(1, at="2026-11-20T08:01:12.345+05:00"), event(2, at="2026-11-20T03:01:12Z")])
    first, second = day(client, "2026-11-20")
    assert first["occurred_at"] == "2026-11-20T08:01:12.345000+05:00"
    assert second["occurred_at"] == "2026-11-20T03:01:12Z"
    assert first["received_at"].endswith("Z")


def test_ordered_by_gateway_then_seq_and_only_that_school(client: TestClient) -> None:
    deliver(client, [event(seq) for seq in (7, 2, 9, 1)])
    deliver(client, [event(1, school="s2", gateway_id="gw2")], gateway="gw2", key=KEY2)
    assert [e["seq"] for e in day(client, "2026-11-20")] == [1, 2, 7, 9]
    assert [(e["school_id"], e["gateway_id"]) for e in day(client, "2026-11-20", school="s2")] == [("s2", "gw2")]


def test_paging_after_the_last_event(client: TestClient) -> None:
    deliver(client, [event(seq) for seq in range(1, 8)])
    pages, after = [], {}
    while page := day(client, "2026-11-20", limit=3, **after):
        pages.append([e["seq"] for e in page])
        after = {"after_gateway": page[-1]["gateway_id"], "after_seq": page[-1]["seq"]}
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    assert [e["seq"] for e in day(client, "2026-11-20", gateway_id="gw1", after_seq=5)] == [6, 7]
    r = client.get(DAY, params={"date": "2026-11-20", "after_seq": 5}, headers=admin())
    assert r.status_code == 422


def test_only_public_fields_are_shown(client: TestClient) -> None:
    meal = {"period": "lunch", "category": "free", "dishes": ["plov"], "price_tiyn": 70000}
    deliver(client, [event(1, kind="meal", credential_kind="em4100", credential_hash="a" * 64, meal=meal)])
    (shown,) = day(client, "2026-11-20")
    assert shown["meal"] == meal and shown["credential_kind"] == "em4100"
    assert not {"credential_hash", "key", "utc_offset_minutes"} & set(shown)


def test_the_admin_token_is_required(client: TestClient) -> None:
    params = {"date": "2026-11-20"}
    assert client.get(DAY, params=params).status_code == 401
    assert client.get(DAY, params=params, headers=admin("wrong-token")).status_code == 401
    assert client.get(DAY, params=params, headers={"Authorization": ADMIN}).status_code == 401  # no scheme
    assert client.get(DAY, params=params, headers={"Authorization": f"Basic {ADMIN}"}).status_code == 401
    assert client.get(DAY, params=params, headers={"Authorization": f"bearer {ADMIN}"}).status_code == 200
    assert client.get(DAY, params={"date": "20.11.2026"}, headers=admin()).status_code == 422


def test_without_a_configured_token_nobody_is_admin(settings: CloudSettings) -> None:
    app = create_app(settings.model_copy(update={"admin_token": SecretStr("")}))
    with TestClient(app) as client:
        for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
            assert client.get(DAY, params={"date": "2026-11-20"}, headers=header).status_code == 401
