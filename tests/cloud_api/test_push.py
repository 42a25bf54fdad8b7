"""Web Push to guardians, read as a parent's phone would show it (the push simulator decrypts each one).

The simulator listens on 127.0.0.1, which the cloud posts to only because its origin is listed in
``push_service_origins`` (the ``settings`` below), as a deployment lists the browsers' services.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud_api.background.http import RetryPolicy, client
from cloud_api.db.schema import push_queue, push_subscriptions
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS, EndpointPolicy, endpoint_policy
from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.push.sender import PUSH_POLICY, Outcome, PushSender, Subscription
from cloud_api.push.worker import PushWorker
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from simulators.push_service import Device, PushServiceServer
from tests.cloud_api.helpers import ADMIN, batch_body, event, signed
from tests.cloud_api.school import CHILD, World


@pytest.fixture
def service() -> Iterator[PushServiceServer]:
    with PushServiceServer() as running:
        yield running


@pytest.fixture
def settings(database_url: str, service: PushServiceServer) -> CloudSettings:
    """The tests' app, with the simulator's origin listed next to the browsers' push services."""
    origins = [*DEFAULT_PUSH_SERVICE_ORIGINS, service.url]
    return CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0, push_service_origins=origins)


class Waits:
    """The sender's sleeps, recorded instead of slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def sender_for(w: World, waits: Waits | None = None, endpoints: EndpointPolicy | None = None) -> PushSender:
    """A sender with the deployment's key and endpoint policy (unless given); its retries' waits recorded,
    not slept (call it in a test's loop)."""
    with w.app.state.engine.begin() as conn:
        ensure_vapid_key(conn)
        key = load_vapid_key(conn)
    assert key is not None
    policy = RetryPolicy(initial_s=PUSH_POLICY.initial_s, max_s=PUSH_POLICY.max_s, attempts=4, sleep=waits or Waits())
    endpoints = endpoints or endpoint_policy(w.app.state.settings)
    return PushSender(key, "mailto:ops@school.kz", client(), endpoints=endpoints, policy=policy)


async def test_the_sender_encrypts_signs_and_reads_the_services_answers(
    world: World,
    service: PushServiceServer,
) -> None:
    waits = Waits()
    sender = sender_for(world, waits)
    device = service.state.new_device()
    sub = Subscription(**_flat(device.subscription(service.url)))

    async def send(data: bytes) -> tuple[Outcome, int | None]:
        return await sender.send(sender.encrypt(sub, data))

    assert await send(b'{"title": "hi"}') == (Outcome.SENT, 201)
    [got] = service.state.arrived
    assert got.payload == {"title": "hi"} and got.ttl == 3600 and got.urgency == "high"
    assert got.subject == "mailto:ops@school.kz"
    service.state.answer_next(device, 429, retry_after="7")
    service.state.answer_next(device, 503)
    assert await send(b"{}") == (Outcome.SENT, 201)  # after a 429 and a 503
    assert waits.slept[0] == 7.0 and len(waits.slept) == 2  # Retry-After honoured, then backoff
    service.state.answer_next(device, 500, times=4)
    assert await send(b"{}") == (Outcome.FAILED, 500)  # given up after four tries
    service.state.unsubscribe(device)
    assert await send(b"{}") == (Outcome.GONE, 410)
    await sender.aclose()
    # a sender whose VAPID key is not the one it claims is refused by the service
    other = World(world.client, world.app, world.ids)
    forged = sender_for(other)
    forged._vapid.vapid.sign = _forged_signer(forged._vapid.vapid.sign)  # type: ignore[method-assign]
    fresh = Subscription(**_flat(service.state.new_device().subscription(service.url)))
    assert (await forged.send(forged.encrypt(fresh, b"{}")))[0] is Outcome.FAILED
    assert any(r.startswith("VAPID") for r in service.state.refused)
    await forged.aclose()


def _flat(subscription: dict[str, Any]) -> dict[str, str]:
    return {"endpoint": subscription["endpoint"], **subscription["keys"]}


def _forged_signer(sign: Any) -> Any:
    def forged(claims: dict[str, Any]) -> dict[str, str]:
        headers = dict(sign(claims))
        scheme, _, rest = headers["Authorization"].partition(" ")
        token, _, key = rest.partition(",k=")
        head, payload, signature = token.removeprefix("t=").split(".")
        return {"Authorization": f"{scheme} t={head}.{payload}.{signature[::-1]},k={key}"}

    return forged


def subscribe(w: World, login: str, device: Device, service: PushServiceServer) -> dict[str, str]:
    headers = w.token(login)
    r = w.client.post("/v1/me/push-subscriptions", json=device.subscription(service.url), headers=headers)
    assert r.status_code == 201, r.text
    return headers


def ingest(w: World, *events: dict[str, Any]) -> None:
    body = batch_body(list(events))
    assert w.client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200


EARLIER_TODAY_MAX_MINUTES = 300


def earlier_today(minutes_ago: float, now: datetime | None = None) -> str:
    """A local time about `minutes_ago` before now that is still today, in the same order as the minutes.

    A test of what a parent sees *today* failed when CI ran at 01:31 in Almaty: an entry four hours
    earlier fell on yesterday. So when today is younger than the span, the span shrinks to fit it.
    """
    assert 0 <= minutes_ago < EARLIER_TODAY_MAX_MINUTES
    now = (now or datetime.now(UTC)).astimezone(LOCAL_TZ)
    elapsed = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
    squeeze = min(1.0, elapsed / EARLIER_TODAY_MAX_MINUTES)
    return (now - timedelta(minutes=minutes_ago * squeeze)).isoformat()


def test_earlier_today_stays_today_and_in_order_after_midnight() -> None:
    at = datetime(2026, 12, 4, 20, 31, tzinfo=UTC)  # 01:31 in Almaty, when CI failed
    entry, meal = (datetime.fromisoformat(earlier_today(m, at)) for m in (240, 60))
    assert entry.date() == meal.date() == at.astimezone(LOCAL_TZ).date()
    assert entry < meal < at
    noon = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    assert datetime.fromisoformat(earlier_today(240, noon)) == noon - timedelta(minutes=240)


async def test_a_childs_day_reaches_each_guardians_phone_in_their_language(
    world: World,
    service: PushServiceServer,
) -> None:
    child = str(world.ids[CHILD])
    phone, tablet, stranger = (service.state.new_device() for _ in range(3))
    mother = subscribe(world, "+77012345678", phone, service)
    subscribe(world, "+77012345678", tablet, service)
    subscribe(world, "father@mail.kz", stranger, service)  # another family's father
    assert world.client.put("/v1/me/notification-settings", json={"language": "ru"}, headers=mother).status_code == 200
    consent = world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    assert consent.status_code == 200
    lunch = {"period": "lunch", "category": "paid", "dishes": ["Плов", "Компот"], "price_tiyn": 65050}
    ingest(
        world,
        event(1, person_id=child, reason="on_roster", at=earlier_today(1.0)),
        event(2, person_id=child, reason="on_roster", at=earlier_today(0.8)),  # tapped twice: one notice
        event(3, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(0.5)),
        event(4, kind="denied", decision="denied", person_id=child, reason="already_served", at=earlier_today(0.3)),
        event(5, person_id=child, reason="on_roster", at="2026-11-20T08:00:00+05:00"),  # three days late
    )
    worker = PushWorker(world.app.state.engine, sender_for(world))
    assert await worker.work_once() == 5
    await worker.aclose()
    bodies = [p["body"] for p in service.state.for_device(phone)]
    assert [p["body"] for p in service.state.for_device(tablet)] == bodies  # every device of hers
    assert service.state.for_device(stranger) == []
    assert len(bodies) == 3, bodies  # entry, lunch, the late entry; the repeat and the refusal folded in
    assert bodies[0].startswith("Әлия: вход в школу, ")
    # the tiyn kept, with the decimal comma; a sentence of its own begins with a capital
    assert "Плов, Компот" in bodies[1] and "650,50\u00a0₸" in bodies[1] and "Платное питание" in bodies[1]
    assert "вход в школу, 20.11.2026, 08:00" in bodies[2] and "с опозданием" in bodies[2]
    payloads = service.state.for_device(phone)
    assert [p["late"] for p in payloads] == [False, False, True]
    with world.app.state.engine.connect() as conn:
        states = dict(conn.execute(select(push_queue.c.state, func.count()).group_by(push_queue.c.state)).all())
    assert states == {"sent": 3, "coalesced": 2}


async def test_no_consent_no_notice_and_a_gone_device_is_forgotten(
    world: World,
    service: PushServiceServer,
) -> None:
    child = str(world.ids[CHILD])
    phone, old_phone = service.state.new_device(), service.state.new_device()
    mother = subscribe(world, "+77012345678", phone, service)
    subscribe(world, "+77012345678", old_phone, service)
    worker = PushWorker(world.app.state.engine, sender_for(world))
    ingest(world, event(1, person_id=child, reason="on_roster", at=earlier_today(5)))  # never consented
    await worker.work_once()
    assert service.state.arrived == []
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    service.state.unsubscribe(old_phone)  # she wiped the old phone
    ingest(world, event(2, kind="exit", person_id=child, reason="on_roster", at=earlier_today(1)))
    await worker.work_once()
    assert len(service.state.for_device(phone)) == 1 and "мектептен кетті" in service.state.for_device(phone)[0]["body"]
    with world.app.state.engine.connect() as conn:
        endpoints = set(conn.execute(select(push_subscriptions.c.endpoint)).scalars())
    assert endpoints == {phone.subscription(service.url)["endpoint"]}
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": False}, headers=mother)
    ingest(world, event(3, person_id=child, reason="on_roster", at=earlier_today(0)))  # consent withdrawn since
    await worker.work_once()
    assert len(service.state.arrived) == 1
    await worker.aclose()


def test_a_bad_subscription_is_refused_with_the_field_named(world: World) -> None:
    mother = world.token("+77012345678")
    bad = {"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}
    r = world.client.post("/v1/me/push-subscriptions", json=bad, headers=mother)
    assert r.status_code == 422 and "p256dh" in r.text
    cook = world.token("cook@s1.kz")
    good = {"endpoint": "https://push.example/x", "keys": {"p256dh": "BA" + "A" * 85, "auth": "A" * 22}}
    assert world.client.post("/v1/me/push-subscriptions", json=good, headers=cook).status_code == 403
