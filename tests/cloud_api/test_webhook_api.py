"""An outside system manages its own webhook subscriptions with its API token: it subscribes itself,
gets the secret once, hears an ingested entry signed with it, rotates, pauses, resumes and removes;
it neither sees nor touches another system's, subscribes no school outside its reach and no kind
whose scope its token lacks; a revoked system's token is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from standardwebhooks import Webhook

from cloud_api.db.schema import webhook_subscriptions
from cloud_api.integrations.calls import recent_calls
from cloud_api.integrations.clients import create_client, revoke_client
from cloud_api.services.audit import audit_entries
from cloud_api.settings import CloudSettings
from simulators.webhook_receiver import WebhookReceiverServer
from tests.cloud_api.helpers import ADMIN, event
from tests.cloud_api.school import CHILD, World
from tests.cloud_api.test_api_clients import register, token
from tests.cloud_api.test_webhooks import _consent, _ingest

HOOKS = "/v1/integrations/webhooks"
ON_CITUS = ["test_a_system_subscribes_itself_hears_an_entry_signed_and_manages_its_own"]


@pytest.fixture
def settings(database_url: str) -> CloudSettings:
    # The app's own webhook worker delivers, polling often: what a deployment does.
    return CloudSettings(
        database_url=database_url, admin_token=ADMIN, push_workers=0, webhooks_enabled=True, webhook_poll_s=0.2
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiverServer]:
    with WebhookReceiverServer() as server:
        yield server


def _made(c: TestClient, bearer: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = c.post(HOOKS, json=body, headers=bearer)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["detail"]["code"]


def test_a_system_subscribes_itself_hears_an_entry_signed_and_manages_its_own(
    world: World, receiver: WebhookReceiverServer
) -> None:
    client_id, secret = register(world, "attendance:read")
    c = world.client
    bearer = token(c, client_id, secret)
    made = _made(c, bearer, school_id="s1", url=receiver.url + "/hook", kinds=["exit", "entry"])
    assert made["secret"].startswith("whsec_") and made["kinds"] == ["entry", "exit"]
    assert made["state"] == "active" and made["pending"] == 0 and made["school_id"] == "s1"
    first_secret = made["secret"]
    one = f"{HOOKS}/s1/{made['id']}"
    listed = c.get(HOOKS, headers=bearer)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()["subscriptions"]] == [made["id"]]
    assert "secret" not in listed.json()["subscriptions"][0] and first_secret not in listed.text
    assert first_secret not in c.get(one, headers=bearer).text  # shown once

    # An ingested entry of a consenting child reaches the receiver, signed with that secret.
    receiver.state.secrets = [first_secret]
    _consent(world, CHILD)
    child = str(world.ids[CHILD])
    _ingest(c, event(1, person_id=child, reason="on_roster"))
    [arrived] = receiver.state.wait_for(lambda got: len(got) >= 1)
    assert arrived.body["type"] == "entry.created" and arrived.body["data"]["person_id"] == child
    Webhook(first_secret).verify(arrived.raw, arrived.headers)

    # Rotated: the new secret once; the previous one signs beside it during the overlap.
    rotated = c.post(f"{one}/rotate", headers=bearer)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != first_secret
    assert rotated.json()["previous_secret_until"] is not None
    assert new_secret not in c.get(one, headers=bearer).text
    _ingest(c, event(2, person_id=child, reason="on_roster", kind="exit"))
    got = receiver.state.wait_for(lambda got: len(got) >= 2)
    assert len(got[1].headers["webhook-signature"].split(" ")) == 2
    Webhook(first_secret).verify(got[1].raw, got[1].headers)
    Webhook(new_secret).verify(got[1].raw, got[1].headers)

    # Paused by the system itself: webhooks wait, and arrive after the resume.
    paused = c.post(f"{one}/pause", headers=bearer)
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["paused_reason"] == "by_client"
    _ingest(c, event(3, person_id=child, reason="on_roster", at="2026-11-20T09:00:00+05:00"))
    waiting = c.get(one, headers=bearer).json()
    assert waiting["state"] == "paused" and waiting["pending"] == 1
    assert len(receiver.state.arrived) == 2
    resumed = c.post(f"{one}/resume", headers=bearer)
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"
    assert resumed.json()["paused_reason"] is None
    got = receiver.state.wait_for(lambda got: len(got) >= 3)
    assert [a.body["type"] for a in got] == ["entry.created", "exit.created", "entry.created"]

    removed = c.delete(one, headers=bearer)
    assert removed.status_code == 204 and removed.content == b""
    assert _code(c.get(one, headers=bearer)) == (404, "webhook_subscription_unknown")
    assert c.get(HOOKS, headers=bearer).json() == {"subscriptions": []}

    with world.app.state.engine.connect() as conn:
        journal = audit_entries(conn, "s1", "webhook_subscription")
        calls = recent_calls(conn, client_id)
    # Made, rotated, paused, resumed, removed; each by the system, never a secret.
    assert [e["action"] for e in journal] == ["create", "update", "update", "update", "delete"]
    assert {e["actor"] for e in journal} == {f"client:{client_id}"}
    assert not any(first_secret in str(e) or new_secret in str(e) for e in journal)
    # Every call journalled with its status, the subscription's school named.
    assert [(k.method, k.status, k.school_id) for k in calls[:4]] == [
        ("GET", 200, None),
        ("GET", 404, None),
        ("DELETE", 204, "s1"),
        ("POST", 200, "s1"),
    ]
    assert ("POST", HOOKS, 201, "s1") in [(k.method, k.path, k.status, k.school_id) for k in calls]


def test_a_system_cannot_touch_another_systems_subscription_nor_reach_past_its_schools_and_scopes(
    world: World, receiver: WebhookReceiverServer
) -> None:
    client_id, secret = register(world, "attendance:read")
    c = world.client
    bearer = token(c, client_id, secret)
    made = _made(c, bearer, school_id="s1", url=receiver.url + "/hook", kinds=["entry"])
    one = f"{HOOKS}/s1/{made['id']}"
    with world.app.state.engine.begin() as conn:
        other, other_secret = create_client(
            conn,
            name="Bilimland",
            actor="account:test",
            now=datetime.now(UTC),
            scopes=["attendance:read", "meals:read"],
            region_id="almaty",
        )
    theirs = token(c, other.client_id, other_secret)

    # Another system's subscription is as if there were none: not listed, not shown, not changed.
    assert c.get(HOOKS, headers=theirs).json() == {"subscriptions": []}
    assert _code(c.get(one, headers=theirs)) == (404, "webhook_subscription_unknown")
    for action in ("rotate", "pause", "resume"):
        assert _code(c.post(f"{one}/{action}", headers=theirs)) == (404, "webhook_subscription_unknown")
    assert _code(c.delete(one, headers=theirs)) == (404, "webhook_subscription_unknown")
    still = c.get(one, headers=bearer).json()
    assert still["state"] == "active" and still["previous_secret_until"] is None

    # A school outside the reach, a kind whose scope the token lacks: refused as the read routes refuse.
    hook = receiver.url + "/hook"
    assert _code(c.post(HOOKS, json={"school_id": "s3", "url": hook, "kinds": ["entry"]}, headers=bearer)) == (
        403,
        "school_not_served",
    )
    assert _code(c.post(HOOKS, json={"school_id": "s1", "url": hook, "kinds": ["meal"]}, headers=bearer)) == (
        403,
        "scope_not_granted",
    )
    narrowed = token(c, other.client_id, other_secret, scope="attendance:read")  # the system has meals:read
    assert _code(c.post(HOOKS, json={"school_id": "s1", "url": hook, "kinds": ["meal"]}, headers=narrowed)) == (
        403,
        "scope_not_granted",
    )
    bad_url = c.post(HOOKS, json={"school_id": "s1", "url": "ftp://diary.example/", "kinds": ["entry"]}, headers=bearer)
    assert bad_url.status_code == 422 and bad_url.json()["detail"]["code"].startswith("webhook_url_")
    assert bad_url.json()["detail"]["errors"][0]["field"] == "url"
    unknown_kind = c.post(HOOKS, json={"school_id": "s1", "url": hook, "kinds": ["teleport"]}, headers=bearer)
    assert unknown_kind.status_code == 422
    assert _made(c, theirs, school_id="s1", url=hook, kinds=["meal"])["kinds"] == ["meal"]  # with the scope: yes

    with world.app.state.engine.connect() as conn:
        calls = recent_calls(conn, client_id)
        count = conn.execute(select(func.count()).select_from(webhook_subscriptions)).scalar_one()
    assert count == 2  # nothing made by the refusals
    assert [(k.status, k.code) for k in calls[:4]] == [
        (422, "invalid_request"),
        (422, bad_url.json()["detail"]["code"]),
        (403, "scope_not_granted"),
        (403, "school_not_served"),
    ]

    # Revoked: its token stops at once.
    with world.app.state.engine.begin() as conn:
        revoke_client(conn, client_id, actor="account:test", now=datetime.now(UTC))
    refused = c.get(HOOKS, headers=bearer)
    assert _code(refused) == (401, "api_token_required") and refused.headers["www-authenticate"] == "Bearer"
    assert _code(c.delete(one, headers=bearer)) == (401, "api_token_required")


def test_the_document_shows_each_subscription_route_behind_the_api_client_scheme(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    routes = {(m, p): op for p, ops in doc["paths"].items() if p.startswith(HOOKS) for m, op in ops.items()}
    assert len(routes) == 7
    assert all(op["security"] == [{"apiClient": []}] for op in routes.values())
    assert (
        "201" in routes[("post", HOOKS)]["responses"]
        and "204" in routes[("delete", HOOKS + "/{school_id}/{subscription_id}")]["responses"]
    )
    schemas = doc["components"]["schemas"]
    assert "secret" not in schemas["WebhookSubscriptionPublic"]["properties"]
    assert "secret" in schemas["WebhookSubscriptionWithSecret"]["required"]
