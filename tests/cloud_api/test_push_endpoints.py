"""Where the cloud posts a push. A guardian's browser names the URL, so the cloud posts only to push
services: never inside its own network, never where a push service redirects it, and to ten devices
of an account at most (one post per device and notice).

The simulator (127.0.0.1) and a redirecting push service are listed in ``push_service_origins`` here,
as a deployment lists the browsers' services.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Response
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from cloud_api.core.data_keys import make_data_key
from cloud_api.db.schema import push_queue, push_subscriptions
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS, EndpointPolicy, Problem, endpoint_policy
from cloud_api.push.subscriptions import check_endpoint, subscribe_device
from cloud_api.push.worker import PushWorker
from cloud_api.settings import CloudSettings
from shared.i18n import catalog_messages
from simulators.http_server import ThreadedServer
from simulators.push_service import PushServiceServer
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import CHILD, World
from tests.cloud_api.test_parent_app import signed_in
from tests.cloud_api.test_push import earlier_today, event, ingest, sender_for, subscribe

MOTHER_LOGIN = "+77012345678"


class Redirector(ThreadedServer):
    """A push service that answers every message with 307 to the same path at ``target``."""

    def __init__(self, target: str) -> None:
        self.asked = 0
        app = FastAPI()

        @app.post("/push/{token}")
        def push(token: str) -> Response:
            self.asked += 1
            return Response(status_code=307, headers={"Location": f"{target}/push/{token}"})

        super().__init__(lambda: app, "redirector")


@pytest.fixture
def service() -> Iterator[PushServiceServer]:
    with PushServiceServer() as running:
        yield running


@pytest.fixture
def redirector(service: PushServiceServer) -> Iterator[Redirector]:
    with Redirector(service.url) as running:
        yield running


@pytest.fixture
def settings(database_url: str, service: PushServiceServer, redirector: Redirector) -> CloudSettings:
    origins = [*DEFAULT_PUSH_SERVICE_ORIGINS, service.url, redirector.url]
    return CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0, push_service_origins=origins)


def refused(stage: str, problem: str) -> float:
    """The endpoints refused so far, as ``/metrics`` counts them."""
    labels = {"stage": stage, "problem": problem}
    return REGISTRY.get_sample_value("mektep_push_endpoints_refused_total", labels) or 0.0


# -- the policy ------------------------------------------------------------------------------------

DEVELOPMENT = EndpointPolicy(DEFAULT_PUSH_SERVICE_ORIGINS)


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://push.example.com/x", Problem.NOT_HTTPS),
        ("https://127.0.0.1/x", Problem.PRIVATE_ADDRESS),
        ("https://127.1/x", Problem.PRIVATE_ADDRESS),  # what the resolver makes of it: 127.0.0.1
        ("https://2130706433/x", Problem.PRIVATE_ADDRESS),  # 127.0.0.1 as one number
        ("https://10.0.0.5/x", Problem.PRIVATE_ADDRESS),
        ("https://100.64.0.1/x", Problem.PRIVATE_ADDRESS),  # carrier-grade NAT
        ("https://169.254.169.254/latest/meta-data/", Problem.PRIVATE_ADDRESS),  # a cloud's metadata service
        ("https://224.0.0.1/x", Problem.PRIVATE_ADDRESS),
        ("https://0.0.0.0/x", Problem.PRIVATE_ADDRESS),
        ("https://[::1]/x", Problem.PRIVATE_ADDRESS),
        ("https://[fe80::1]/x", Problem.PRIVATE_ADDRESS),
        ("https://[::ffff:127.0.0.1]/x", Problem.PRIVATE_ADDRESS),  # IPv4-mapped
        ("https://[64:ff9b::a9fe:a9fe]/x", Problem.PRIVATE_ADDRESS),  # NAT64 of 169.254.169.254
        ("https://[2002:7f00:1::]/x", Problem.PRIVATE_ADDRESS),  # 6to4 of 127.0.0.1
        ("https://localhost/x", Problem.PRIVATE_ADDRESS),  # a name that resolves to loopback
        ("https://push.invalid/x", Problem.UNRESOLVED),
        ("https://user:secret@fcm.googleapis.com/fcm/send/x", Problem.MALFORMED),
        ("https://93.184.215.14/push/x", None),  # a public address: an unlisted service, in development
        ("https://[2606:4700::1111]/push/x", None),
        ("https://fcm.googleapis.com/fcm/send/abc", None),
        ("https://wns2-par02p.notify.windows.com/w/?token=abc", None),  # listed as https://*.notify.windows.com
    ],
)
def test_in_development_an_unlisted_endpoint_must_be_https_to_public_addresses(
    endpoint: str, problem: Problem | None
) -> None:
    assert DEVELOPMENT.problem(endpoint) is problem


@pytest.mark.parametrize(
    ("endpoint", "accepted"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", True),
        ("https://FCM.googleapis.com:443/fcm/send/abc", True),
        ("https://updates.push.services.mozilla.com/wpush/v2/abc", True),
        ("https://web.push.apple.com/QGx", True),
        ("https://db5p.notify.windows.com/w/?token=abc", True),
        ("https://notify.windows.com/w/?token=abc", False),  # the wildcard is for subdomains only
        ("https://fcm.googleapis.com.attacker.example/x", False),
        ("https://attacker.example/fcm.googleapis.com/x", False),
        ("https://fcm.googleapis.com:8443/x", False),
        ("http://fcm.googleapis.com/x", False),
        ("https://93.184.215.14/push/x", False),  # public, but not a listed push service
    ],
)
def test_in_production_only_the_listed_push_services_are_accepted(endpoint: str, accepted: bool) -> None:
    settings = CloudSettings(
        environment="production",
        admin_token="f3a9c1e07b5d4e2a9c8b",
        credential_key="k" * 20,
        data_key=make_data_key(),
    )
    assert endpoint_policy(settings).problem(endpoint) is (None if accepted else Problem.NOT_LISTED)


# -- subscribing -----------------------------------------------------------------------------------


def test_a_device_cannot_subscribe_an_address_the_cloud_must_not_post_to(
    world: World, service: PushServiceServer
) -> None:
    mother = world.token(MOTHER_LOGIN)
    keys = service.state.new_device().subscription(service.url)["keys"]
    inside = [
        "https://127.0.0.1/push/x",
        "https://10.0.0.5/push/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/push/x",
        "https://localhost/push/x",
    ]
    not_https = ["http://push.example.com/x", service.url.replace("127.0.0.1", "localhost") + "/push/x"]
    before = refused("subscribe", "private_address"), refused("subscribe", "not_https")
    for endpoint in inside + not_https:
        for language in ("ru", "en"):
            answer = world.client.post(
                "/v1/me/push-subscriptions",
                json={"endpoint": endpoint, "keys": keys},
                headers={**mother, "Accept-Language": language},
            )
            assert answer.status_code == 422, (endpoint, answer.text)
            detail = answer.json()["detail"]
            assert detail["code"] == "push_endpoint_not_allowed"
            assert detail["message"] == catalog_messages(language)["push_endpoint_not_allowed"]
            assert [e["field"] for e in detail["errors"]] == ["body.endpoint"]
    assert "другом браузере" in catalog_messages("ru")["push_endpoint_not_allowed"]
    with world.app.state.engine.connect() as conn:
        assert conn.execute(select(push_subscriptions.c.id)).first() is None
    after = refused("subscribe", "private_address"), refused("subscribe", "not_https")
    assert (after[0] - before[0], after[1] - before[1]) == (2 * len(inside), 2 * len(not_https))
    # A listed origin (the simulator, on loopback; Edge's service by its wildcard), and in development an
    # unlisted https service at a public address, are accepted.
    for endpoint in (
        service.state.new_device().subscription(service.url)["endpoint"],
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
        "https://93.184.215.14/push/x",
    ):
        answer = world.client.post(
            "/v1/me/push-subscriptions", json={"endpoint": endpoint, "keys": keys}, headers=mother
        )
        assert answer.status_code == 201, (endpoint, answer.text)


async def test_an_eleventh_device_is_refused_until_one_is_removed_in_the_settings(
    world: World,
    service: PushServiceServer,
) -> None:
    phones = [service.state.new_device() for _ in range(11)]
    for phone in phones[:10]:
        mother = subscribe(world, MOTHER_LOGIN, phone, service)
    eleventh = phones[10].subscription(service.url)
    answer = world.client.post("/v1/me/push-subscriptions", json=eleventh, headers={**mother, "Accept-Language": "ru"})
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert detail["code"] == "too_many_devices"
    assert "уже включены на 10 устройствах" in detail["message"] and "удалите в настройках" in detail["message"]
    # The same phone again (the page subscribes it each time it is opened) is not a new device.
    again = phones[3].subscription(service.url)
    assert world.client.post("/v1/me/push-subscriptions", json=again, headers=mother).status_code == 201
    # Another guardian's devices do not count against hers.
    subscribe(world, "father@mail.kz", service.state.new_device(), service)

    page = signed_in(world).get("/app/settings").text
    listed = re.findall(r'name="device" value="([0-9a-f-]+)"', page)
    assert len(listed) == 10 and "Не больше 10 устройств" in page
    removed = world.client.post("/app/settings/devices", data={"device": listed[-1]})
    assert "Это устройство больше не будет получать уведомления" in removed.text
    assert len(re.findall(r'name="device"', removed.text)) == 9
    assert world.client.post("/v1/me/push-subscriptions", json=eleventh, headers=mother).status_code == 201

    # Rows kept before the limit existed: one tap still reaches ten of her devices, the newest.
    with world.app.state.engine.begin() as conn:
        newest = conn.execute(select(push_subscriptions).order_by(push_subscriptions.c.created_at.desc())).first()
        assert newest is not None
        for extra in (service.state.new_device() for _ in range(2)):
            sub = extra.subscription(service.url)
            conn.execute(
                insert(push_subscriptions).values(
                    {
                        **newest._mapping,
                        "id": uuid.uuid4(),
                        "endpoint": sub["endpoint"],
                        **sub["keys"],
                        "created_at": datetime.now(UTC),
                    }
                )
            )
    child = str(world.ids[CHILD])
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    ingest(world, event(1, person_id=child, reason="on_roster", at=earlier_today(0)))
    worker = PushWorker(world.app.state.engine, sender_for(world))
    await worker.work_once()
    await worker.aclose()
    assert service.state.requests == 10 and len(service.state.arrived) == 10


async def test_one_tap_posts_once_to_each_device_and_follows_no_redirect(
    world: World,
    service: PushServiceServer,
    redirector: Redirector,
) -> None:
    child = str(world.ids[CHILD])
    phones = [service.state.new_device() for _ in range(3)]
    for phone in phones:
        mother = subscribe(world, MOTHER_LOGIN, phone, service)
    tablet = service.state.new_device()  # its push service answers 307 to the simulator
    assert (
        world.client.post(
            "/v1/me/push-subscriptions", json=tablet.subscription(redirector.url), headers=mother
        ).status_code
        == 201
    )
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    before = refused("send", "redirect")
    ingest(world, event(1, person_id=child, reason="on_roster", at=earlier_today(0)))
    worker = PushWorker(world.app.state.engine, sender_for(world))
    assert await worker.work_once() == 1
    await worker.aclose()
    assert [len(service.state.for_device(p)) for p in phones] == [1, 1, 1]
    assert service.state.requests == 3  # the redirect's target got nothing more
    assert service.state.for_device(tablet) == [] and service.state.refused == []
    assert redirector.asked == 1
    assert refused("send", "redirect") - before == 1
    with world.app.state.engine.connect() as conn:
        detail = conn.execute(select(push_queue.c.detail)).scalar_one()
        kept = set(conn.execute(select(push_subscriptions.c.endpoint)).scalars())
    assert "3 sent" in detail and "1 failed" in detail
    assert tablet.subscription(redirector.url)["endpoint"] in kept  # a failure, not an unsubscription


async def test_a_device_whose_name_now_resolves_inside_is_not_posted_to_and_is_forgotten(
    world: World,
    service: PushServiceServer,
) -> None:
    child = str(world.ids[CHILD])
    phone = service.state.new_device()
    mother = subscribe(world, MOTHER_LOGIN, phone, service)
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    # A device subscribed while push.example.net was a public address; the name now resolves to loopback.
    addresses = {"push.example.net": ["93.184.215.14"]}
    policy = EndpointPolicy([service.url], resolve=lambda host, port: addresses[host])
    moved = "https://push.example.net/push/abc"
    check_endpoint(policy, moved)
    with world.app.state.engine.begin() as conn:
        mine = conn.execute(select(push_subscriptions)).one()
        keys = {"p256dh": mine.p256dh, "auth": mine.auth}
        who = {"school_id": mine.school_id, "guardian_id": mine.guardian_id, "account_id": mine.account_id}
        subscribe_device(conn, **who, endpoint=moved, **keys)
    addresses["push.example.net"] = ["127.0.0.1"]
    before = refused("send", "private_address")
    ingest(world, event(1, person_id=child, reason="on_roster", at=earlier_today(0)))
    worker = PushWorker(world.app.state.engine, sender_for(world, endpoints=policy))
    await worker.work_once()
    await worker.aclose()
    assert len(service.state.for_device(phone)) == 1
    assert refused("send", "private_address") - before == 1
    with world.app.state.engine.connect() as conn:
        kept = set(conn.execute(select(push_subscriptions.c.endpoint)).scalars())
        detail = conn.execute(select(push_queue.c.detail)).scalar_one()
    assert kept == {phone.subscription(service.url)["endpoint"]}
    assert "1 refused" in detail
