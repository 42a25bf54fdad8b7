"""Signed webhooks: a receiver hears of an entry once, signed, after a real ingest, and nothing of a
child without consent; a receiver down for an hour gets everything in order afterwards and is not
paused; one failing for a day is paused with the reason kept, and gets everything after a resume;
a rotated secret signs beside the new one during the overlap."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import webhook_deliveries, webhook_subscriptions
from cloud_api.integrations.clients import create_client, revoke_client
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import (
    get_subscription,
    list_subscriptions,
    remove,
    resume,
    rotate_secret,
    subscribe,
)
from cloud_api.integrations.webhooks.worker import Backoff, WebhookWorker
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, account_by_login, create_account, grant_role
from cloud_api.services.audit import audit_entries
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from cloud_api.services.schools import place_school
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from simulators.webhook_receiver import WebhookReceiverServer
from tests.cloud_api.helpers import ADMIN, batch_body, event, sign_in, signed
from tests.cloud_api.school import CHILD, HEADER, MOTHER, PASSWORD, TEACHER, TEEN, World, iin

ON_CITUS = ["test_a_receiver_gets_an_entry_once_signed_and_nothing_for_a_child_without_consent"]
# The tests that drive a worker of their own with a clock of their own: the app starts none.
OWN_WORKER = {
    "test_a_receiver_down_for_an_hour_gets_everything_in_order_and_is_not_paused",
    "test_a_day_of_failures_pauses_the_subscription_with_the_reason_and_resume_delivers_in_order",
    "test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap",
    "test_a_roster_import_is_told_to_roster_subscriptions",
}
DEV = ReceiverPolicy(development=True)
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> CloudSettings:
    own = request.function.__name__ in OWN_WORKER
    return CloudSettings(
        database_url=database_url, admin_token=ADMIN, push_workers=0, webhooks_enabled=not own, webhook_poll_s=0.2
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiverServer]:
    with WebhookReceiverServer() as server:
        yield server


def _client(world: World, scopes: list[str]) -> str:
    with world.app.state.engine.begin() as conn:
        place_school(conn, "s1", "School 1", "almaty")
        place_school(conn, "s2", "School 2", "almaty")
        client, _ = create_client(
            conn, name="Kundelik", actor="account:admin", now=T0, scopes=scopes, region_id="almaty"
        )
    return client.client_id


def _subscribe(
    world: World, receiver: WebhookReceiverServer, kinds: list[str], scopes: list[str] | None = None
) -> UUID:
    client_id = _client(world, scopes or ["attendance:read", "meals:read", "roster:read"])
    with world.app.state.engine.begin() as conn:
        sub, secret = subscribe(
            conn,
            client_id=client_id,
            school_id="s1",
            url=receiver.url + "/hook",
            kinds=kinds,
            actor="account:admin",
            now=T0,
            policy=DEV,
        )
    assert secret.startswith("whsec_")
    receiver.state.secrets = [secret]
    return sub.id


def _consent(world: World, child: str, given: bool = True) -> None:
    with world.app.state.engine.begin() as conn:
        set_consent(conn, "s1", world.ids[child], world.ids[MOTHER], given, actor="guardian")


def _ingest(client: TestClient, *events: dict[str, Any]) -> dict[str, Any]:
    body = batch_body(list(events))
    answer = client.post(INGEST_PATH, content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _deliveries(world: World) -> list[Any]:
    with world.app.state.engine.connect() as conn:
        return conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()


def _settled(world: World, count: int) -> list[Any]:
    """The deliveries, once ``count`` of them are settled (the worker commits after the receiver answers)."""
    deadline = time.monotonic() + 10
    while True:
        rows = _deliveries(world)
        if sum(r.state != "pending" for r in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_receiver_gets_an_entry_once_signed_and_nothing_for_a_child_without_consent(
    world: World, receiver: WebhookReceiverServer
) -> None:
    _subscribe(world, receiver, ["entry", "exit"])
    _consent(world, CHILD)  # the teenager's mother never gave it
    child, teen, teacher = (str(world.ids[p]) for p in (CHILD, TEEN, TEACHER))
    entry = event(1, person_id=child, reason="on_roster")
    batch = [
        entry,
        event(2, person_id=teen, reason="on_roster"),
        event(3, person_id=teacher, reason="on_roster"),  # staff: no guardian, no consent, no webhook
        event(4, reason="unknown_credential", decision="denied", kind="denied"),
    ]
    _ingest(world.client, *batch)
    got = receiver.state.wait_for(lambda got: len(got) >= 1)
    _ingest(world.client, *batch)  # the gateway sends it again: all duplicates, nothing new
    _ingest(world.client, event(5, person_id=child, reason="on_roster", kind="exit"))
    got = receiver.state.wait_for(lambda got: len(got) >= 2)

    assert [a.body["type"] for a in got] == ["entry.created", "exit.created"]
    first = got[0]
    assert first.body["data"] == {
        "event_id": entry["id"],
        "school_id": "s1",
        "person_id": child,
        "class": "3Б",
        "occurred_at": "2026-11-20T08:00:00+05:00",
        "device_id": "r1",
    }
    assert first.body["timestamp"] == "2026-11-20T03:00:00Z"
    # Signed by the Standard Webhooks scheme: the receiver verified it, and so does a fresh Webhook.
    Webhook(receiver.state.secrets[0]).verify(first.raw, first.headers)
    assert first.headers["webhook-id"] and first.headers["webhook-signature"].startswith("v1,")
    raw = first.raw.decode()
    assert CHILD not in raw and "Әлия" not in raw and "credential" not in raw
    assert receiver.state.attempts == 2 and receiver.state.refused == 0  # once each: no retry, no duplicate
    rows = _settled(world, 2)
    assert [(r.event_type, r.state) for r in rows] == [("entry.created", "delivered"), ("exit.created", "delivered")]
    assert str(rows[0].id) == first.headers["webhook-id"]
    metrics = world.client.get("/metrics").text
    assert 'mektep_cloud_queue_pending{queue="webhooks"} 0.0' in metrics
    assert 'mektep_webhooks_total{outcome="delivered"}' in metrics


def _worker(world: World, clock: list[datetime], **options: Any) -> WebhookWorker:
    return WebhookWorker(
        world.app.state.engine, policy=DEV, clock=lambda: clock[0], jitter=lambda: 1.0, timeout_s=5.0, **options
    )


def _run(worker: WebhookWorker, clock: list[datetime], until: datetime, step: timedelta) -> None:
    """Rounds of ``worker`` while its clock moves from now to ``until`` by ``step``."""

    async def go() -> None:
        try:
            while clock[0] < until:
                while await worker.round():
                    pass
                clock[0] += step
        finally:
            await worker.aclose()

    asyncio.run(go())


def _sub_row(world: World) -> Any:
    with world.app.state.engine.connect() as conn:
        return conn.execute(select(webhook_subscriptions)).one()


def _taps(world: World, count: int, first: int = 1) -> list[str]:
    child = str(world.ids[CHILD])
    taps = [
        event(
            n,
            person_id=child,
            reason="on_roster",
            kind="entry" if n % 2 else "exit",
            at=f"2026-11-20T08:{n:02d}:00+05:00",
        )
        for n in range(first, first + count)
    ]
    for tap in taps:  # one batch each, as a gateway forwards them when taps come one by one
        _ingest(world.client, tap)
    return [tap["id"] for tap in taps]


def test_a_receiver_down_for_an_hour_gets_everything_in_order_and_is_not_paused(
    world: World, receiver: WebhookReceiverServer
) -> None:
    _subscribe(world, receiver, ["entry", "exit"])
    _consent(world, CHILD)
    sent = _taps(world, 6)
    receiver.state.status = 503
    clock = [T0]
    _run(_worker(world, clock), clock, T0 + timedelta(hours=1), timedelta(seconds=15))
    assert receiver.state.arrived == []
    down = _sub_row(world)
    assert down.state == "active" and down.last_error == "http_503" and down.failures >= 10
    # Only the oldest was tried: the others waited behind it.
    rows = _deliveries(world)
    assert rows[0].attempts == down.failures and all(r.attempts == 0 for r in rows[1:])

    receiver.state.status = 200
    back = clock[0]
    _run(_worker(world, clock), clock, back + timedelta(minutes=6), timedelta(seconds=15))
    got = receiver.state.arrived
    assert [a.body["data"]["event_id"] for a in got] == sent  # every one, once, in order
    up = _sub_row(world)
    assert up.state == "active" and up.failures == 0 and up.last_error is None
    assert up.last_delivered_at - back <= Backoff().max_s * timedelta(seconds=1)  # within the 5-minute cap


def test_a_day_of_failures_pauses_the_subscription_with_the_reason_and_resume_delivers_in_order(
    world: World, receiver: WebhookReceiverServer
) -> None:
    sub_id = _subscribe(world, receiver, ["entry", "exit"])
    _consent(world, CHILD)
    sent = _taps(world, 3)
    receiver.state.status = 503
    clock = [T0]
    _run(_worker(world, clock), clock, T0 + timedelta(hours=25), timedelta(minutes=5))
    paused = _sub_row(world)
    assert paused.state == "paused" and paused.paused_reason == "http_503" and paused.paused_by == "worker"
    attempts = receiver.state.attempts
    sent += _taps(world, 2, first=4)  # taps go on being queued while it is paused
    _run(_worker(world, clock), clock, clock[0] + timedelta(hours=1), timedelta(minutes=5))
    assert receiver.state.attempts == attempts  # paused: nothing is tried

    receiver.state.status = 200
    with world.app.state.engine.begin() as conn:
        [listed] = list_subscriptions(conn, school_id="s1")
        assert listed.pending == 5 and listed.oldest_pending_at is not None and listed.paused_reason == "http_503"
        resume(conn, "s1", sub_id, actor="account:admin", now=clock[0])
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=30), timedelta(seconds=5))
    assert [a.body["data"]["event_id"] for a in receiver.state.arrived] == sent
    assert _sub_row(world).state == "active"


def test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap(
    world: World, receiver: WebhookReceiverServer
) -> None:
    sub_id = _subscribe(world, receiver, ["entry", "exit"])
    _consent(world, CHILD)
    old = receiver.state.secrets[0]
    clock = [T0]
    with world.app.state.engine.begin() as conn:
        new = rotate_secret(conn, "s1", sub_id, actor="account:admin", now=clock[0])
    assert new != old and new.startswith("whsec_")
    _taps(world, 1)
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=5), timedelta(seconds=5))
    [during] = receiver.state.arrived
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.raw, during.headers)  # a receiver that has not switched yet
    Webhook(new).verify(during.raw, during.headers)  # and one that has

    clock[0] += timedelta(hours=25)
    receiver.state.secrets = [new]
    _ingest(world.client, event(9, person_id=str(world.ids[CHILD]), reason="on_roster", kind="exit"))
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=5), timedelta(seconds=5))
    after = receiver.state.arrived[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.raw, after.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old).verify(after.raw, after.headers)


def test_a_roster_import_is_told_to_roster_subscriptions(world: World, receiver: WebhookReceiverServer) -> None:
    sub_id = _subscribe(world, receiver, ["roster"])
    with world.app.state.engine.begin() as conn:
        report = import_roster(
            conn,
            "s1",
            parse_rows([HEADER, ["student", iin("16010150013"), "Жаңа", "Оқушы", "1А", "kk", "", "", "", "", ""]]),
            actor="admin",
        )
    _consent(world, CHILD)
    _taps(world, 1)  # an entry: not asked for, not queued
    clock = [T0]
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=5), timedelta(seconds=5))
    [told] = receiver.state.arrived
    assert told.body["type"] == "roster.changed"
    assert told.body["data"] == {"school_id": "s1", "version": report.version}
    with world.app.state.engine.begin() as conn:
        assert remove(conn, "s1", sub_id, actor="account:admin", now=clock[0]) == 0
        assert get_subscription(conn, "s1", sub_id) is None


def test_a_subscription_is_refused_what_its_client_may_not_have(world: World) -> None:
    client_id = _client(world, ["attendance:read"])
    production = ReceiverPolicy(development=False, resolve=lambda host, port: ["10.0.0.5"])
    cases = [
        ({"kinds": ["meal"]}, "webhook_scope_missing"),
        ({"kinds": []}, "webhook_kinds_invalid"),
        ({"kinds": ["entry", "teleport"]}, "webhook_kinds_invalid"),
        ({"url": "http://diary.example/hook"}, "webhook_url_not_https"),
        ({"url": "https://diary.example/hook"}, "webhook_url_private_address"),  # resolves to 10.0.0.5
        ({"url": "https://169.254.169.254/latest"}, "webhook_url_private_address"),
        ({"url": "http://127.0.0.1:9/hook"}, "webhook_url_not_https"),  # loopback only in development
        ({"url": "https://user:pw@diary.example/"}, "webhook_url_malformed"),
        ({"school_id": "elsewhere"}, "webhook_school_outside"),
    ]
    for change, code in cases:
        given = {"kinds": ["entry"], "url": "https://diary.example/hook", "school_id": "s1", **change}
        with world.app.state.engine.begin() as conn, pytest.raises(DomainError) as refused:
            subscribe(conn, client_id=client_id, actor="a", now=T0, policy=production, **given)
        assert refused.value.code == code, (change, refused.value.code)
    public = ReceiverPolicy(development=False, resolve=lambda host, port: ["93.184.215.14"])
    with world.app.state.engine.begin() as conn:
        sub, _ = subscribe(
            conn,
            client_id=client_id,
            school_id="s1",
            url="https://diary.example/hook",
            kinds=["exit", "entry"],
            actor="a",
            now=T0,
            policy=public,
        )
    assert sub.kinds == ("entry", "exit") and sub.state == "active"
    stored = _sub_row(world)
    assert json.dumps(stored.kinds) == '["entry", "exit"]'


OFFICE = {
    "it@mektep.kz": [(Role.DEPLOYMENT_ADMIN, None)],
    "akimat@almaty.kz": [(Role.REGION, "almaty")],
    "abay@region.kz": [(Role.REGION, "abay")],
}
OWN_WORKER.add("test_the_office_subscribes_shows_why_a_subscription_is_paused_and_resume_delivers")


def _office(world: World, login: str) -> TestClient:
    with world.app.state.engine.begin() as conn:
        if account_by_login(conn, login) is None:
            account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
            for role, scope in OFFICE[login]:
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
    token = sign_in(world.client, login, PASSWORD)["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, token)
    return world.client


def test_the_office_subscribes_shows_why_a_subscription_is_paused_and_resume_delivers(
    world: World, receiver: WebhookReceiverServer
) -> None:
    client_id = _client(world, ["attendance:read"])
    page = f"/office/integrations/{client_id}/webhooks"
    en = {"Accept-Language": "en"}
    assert _office(world, "abay@region.kz").get(page, headers=en).status_code == 403  # another region's system
    office = _office(world, "akimat@almaty.kz")
    empty = office.get(page, headers=en)
    assert empty.status_code == 200 and "No subscription yet." in empty.text
    assert 'value="meal"' not in empty.text  # no meals scope: not offered

    refused = office.post(page, data={"school_id": "s1", "url": "ftp://diary.example/", "kinds": ["entry"]}, headers=en)
    assert refused.status_code == 422 and "Enter a full web address" in refused.text
    made = office.post(
        page, data={"school_id": "s1", "url": receiver.url + "/hook", "kinds": ["entry", "exit"]}, headers=en
    )
    assert made.status_code == 200, made.text
    [secret] = re.findall(r"whsec_[A-Za-z0-9+/=]+", made.text)
    assert "it is not shown again" in made.text and secret not in office.get(page, headers=en).text
    receiver.state.secrets = [secret]

    _consent(world, CHILD)
    sent = _taps(world, 2)
    receiver.state.status = 503
    clock = [datetime.now(UTC)]  # the office made it now
    _run(_worker(world, clock), clock, clock[0] + timedelta(hours=25), timedelta(minutes=5))
    paused = office.get(page, headers=en).text
    assert "paused" in paused and "The receiver answered HTTP 503." in paused
    assert ">2<" in paused  # two webhooks wait

    receiver.state.status = 200
    sub = _sub_row(world)
    resumed = office.post(f"{page}/s1/{sub.id}/resume", headers=en)
    assert resumed.status_code == 200 and "The subscription is resumed" in resumed.text
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=10), timedelta(seconds=5))
    assert [a.body["data"]["event_id"] for a in receiver.state.arrived] == sent
    listed = office.get(page, headers=en).text
    assert "active" in listed and "The receiver answered" not in listed

    rotated = office.post(f"{page}/s1/{sub.id}/rotate", headers=en)
    [new] = re.findall(r"whsec_[A-Za-z0-9+/=]+", rotated.text)
    assert new != secret and "The previous secret signs too until" in rotated.text
    check = office.get(f"{page}/s1/{sub.id}/remove", headers=en)
    assert "Remove the subscription?" in check.text and "0 webhooks waiting are not sent." in check.text
    gone = office.post(f"{page}/s1/{sub.id}/remove", headers=en)
    assert "The subscription is removed." in gone.text and "No subscription yet." in gone.text
    with world.app.state.engine.connect() as conn:
        journal = audit_entries(conn, "s1", "webhook_subscription")
    assert [e["action"] for e in journal] == ["create", "update", "update", "delete"]  # made, resumed, rotated, removed
    assert not any(secret in str(e) or new in str(e) for e in journal)


OWN_WORKER.add("test_a_consent_withdrawn_before_the_post_and_a_revoked_client_are_obeyed")


def test_a_consent_withdrawn_before_the_post_and_a_revoked_client_are_obeyed(
    world: World, receiver: WebhookReceiverServer
) -> None:
    _subscribe(world, receiver, ["entry", "exit"])
    _consent(world, CHILD)
    _taps(world, 2)
    _consent(world, CHILD, given=False)  # the mother withdrew it before the worker's round
    clock = [T0]
    _run(_worker(world, clock), clock, T0 + timedelta(seconds=5), timedelta(seconds=5))
    assert receiver.state.attempts == 0
    assert [(r.state, r.last_error) for r in _deliveries(world)] == [("skipped", "no_consent")] * 2

    _consent(world, CHILD)
    _taps(world, 1, first=3)
    with world.app.state.engine.begin() as conn:
        revoke_client(conn, _sub_row(world).client_id, actor="account:admin", now=T0)
    _run(_worker(world, clock), clock, clock[0] + timedelta(seconds=5), timedelta(seconds=5))
    assert receiver.state.attempts == 0
    sub = _sub_row(world)
    assert sub.state == "paused" and sub.paused_reason == "client_revoked"
    with world.app.state.engine.begin() as conn:
        assert list_subscriptions(conn, school_id="s1")[0].pending == 1  # kept, as a paused one's are


OWN_WORKER.add("test_a_receiver_that_hangs_does_not_hold_back_another_subscription")


def test_a_receiver_that_hangs_does_not_hold_back_another_subscription(
    world: World, receiver: WebhookReceiverServer
) -> None:
    with WebhookReceiverServer() as slow:
        quick_id = _subscribe(world, receiver, ["entry", "exit"])
        client_id = _sub_row(world).client_id
        with world.app.state.engine.begin() as conn:
            _, secret = subscribe(
                conn,
                client_id=client_id,
                school_id="s1",
                url=slow.url + "/hook",
                kinds=["entry"],
                actor="account:admin",
                now=T0,
                policy=DEV,
            )
        slow.state.secrets, slow.state.delay_s = [secret], 3.0
        _consent(world, CHILD)
        _taps(world, 2)  # an entry (both hear of it) and an exit (the quick one only)
        clock = [T0]
        worker = _worker(world, clock, round_budget_s=0.2)

        def states() -> dict[UUID, list[str]]:
            found: dict[UUID, list[str]] = {}
            for row in _deliveries(world):
                found.setdefault(row.subscription_id, []).append(row.state)
            return found

        async def go() -> tuple[float, dict[UUID, list[str]]]:
            started = time.monotonic()
            await worker.round()
            took, after_round = time.monotonic() - started, states()
            for _ in range(100):  # the slow one answers in its own time, and is settled then
                if all(s == "delivered" for each in states().values() for s in each):
                    break
                await asyncio.sleep(0.1)
            await worker.aclose()
            return took, after_round

        took, after_round = asyncio.run(go())
    assert took < 2.5  # the round did not wait for the receiver that hangs
    assert after_round[quick_id] == ["delivered", "delivered"]
    assert [s for sub, each in after_round.items() if sub != quick_id for s in each] == ["pending"]
    assert [a.body["type"] for a in slow.state.arrived] == ["entry.created"]
    assert all(row.state == "delivered" for row in _deliveries(world))
