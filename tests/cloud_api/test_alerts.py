"""The cloud's own alerts: each rule opens on its condition after its window (in school hours where it
says so), once, without flapping; a person acknowledges it; it resolves by itself; the people
responsible hear of it by e-mail and Web Push in their language, with the link to the fleet page.

Time is driven by the test (an injectable clock); the gateways' figures arrive through
:func:`cloud_api.services.gateway_health.store_heartbeat`, as a heartbeat's would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, insert, select

from cloud_api.alerts.store import acknowledge, alerts_of_region, alerts_of_school, deployment_figures, evaluate
from cloud_api.alerts.worker import AlertWorker
from cloud_api.db.schema import alerts, push_queue, schools, staff_push_subscriptions
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS, endpoint_policy
from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.push.sender import PushSender
from cloud_api.push.subscriptions import NoticeSettings, set_notice_settings, subscribe_staff_device
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateway_health import store_heartbeat
from cloud_api.services.gateways import GatewayRecord, register_gateway
from cloud_api.services.signatures import SignedBody
from cloud_api.settings import CloudSettings
from shared.contract import Heartbeat
from shared.localtime import LOCAL_TZ
from simulators.broker import free_port
from simulators.push_service import PushServiceServer
from tests.cloud_api.helpers import KEY
from tests.cloud_api.school import World

ON_CITUS = {"test_each_gateway_rule_opens_after_its_window_and_resolves_by_itself"}

P256DH, AUTH = "BA" + "A" * 85, "A" * 22  # a key and a secret of the shapes a browser gives
# A Tuesday, a working day: 09:00 in Almaty.
SCHOOL_MORNING = datetime(2026, 11, 17, 9, 0, tzinfo=LOCAL_TZ)
HOLIDAY_MORNING = datetime(2026, 12, 16, 9, 0, tzinfo=LOCAL_TZ)  # Independence Day, a Wednesday
EVENING = datetime(2026, 11, 17, 19, 30, tzinfo=LOCAL_TZ)


class Clock:
    """The time the test says it is."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Fleet:
    """Gateways gw1 (s1, region almaty) and gw2 (s2), fed heartbeats; the alert rounds run at the clock's time."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock, self.sent = engine, clock, 0
        with engine.begin() as conn:
            conn.execute(
                insert(schools),
                [
                    {"school_id": "s1", "name": "Школа № 1", "region_id": "almaty"},
                    {"school_id": "s2", "name": "Школа № 2", "region_id": "almaty"},
                ],
            )
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY)

    def beat(self, gateway: str = "gw1", **fields: Any) -> None:
        """A heartbeat from ``gateway`` now, all well unless ``fields`` say otherwise."""
        example = dict(Heartbeat.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
        now = self.clock()
        body = {**example, "gateway_id": gateway, "sent_at": now.isoformat(), "clock_offset_s": 0.01, **fields}
        self.sent += 1
        school = "s1" if gateway == "gw1" else "s2"
        signed = SignedBody(
            GatewayRecord(gateway, school, KEY.encode()), b"{}", str(int(now.timestamp())), f"s{self.sent}"
        )
        with self.engine.begin() as conn:
            store_heartbeat(conn, signed, gateway, Heartbeat.model_validate(body), now)

    def round(self) -> None:
        with self.engine.begin() as conn:
            evaluate(conn, self.clock(), deployment_figures(conn))

    def minutes(self, n: int, *, every_s: int = 20, beats: dict[str, dict[str, Any]] | None = None) -> None:
        """``n`` minutes of rounds every ``every_s`` (one at the start and one at the end), each gateway of
        ``beats`` beating once a minute."""
        for i in range(n * 60 // every_s):
            if beats is not None and (i * every_s) % 60 == 0:
                for gateway, fields in beats.items():
                    self.beat(gateway, **fields)
            self.round()
            self.clock.pass_(seconds=every_s)
        self.round()

    def states(self, school: str = "s1") -> dict[tuple[str, str], str]:
        """(rule, subject) → state, of every row of the school (pending ones too)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alerts.c.rule, alerts.c.subject, alerts.c.state).where(alerts.c.school_id == school)
            )
            return {(r.rule, r.subject): r.state for r in rows}

    def count(self, rule: str) -> int:
        with self.engine.connect() as conn:
            found = select(alerts.c.id).where(alerts.c.rule == rule, alerts.c.state != "pending")
            return len(conn.execute(found).all())


@pytest.fixture
def clock() -> Clock:
    return Clock(SCHOOL_MORNING)


@pytest.fixture
def fleet(engine: Engine, clock: Clock) -> Fleet:
    return Fleet(engine, clock)


WRONG = {
    "disk_free_ratio": 0.10,
    "oldest_pending_age_s": 3700.0,
    "outbox_pending": 40,
    "clock_offset_s": 3.5,
    "parts": {"link:turnstile-1": "offline", "link:canteen-1": "ok", "forwarder": "ok"},
}


def test_each_gateway_rule_opens_after_its_window_and_resolves_by_itself(fleet: Fleet) -> None:
    fleet.minutes(1, beats={"gw1": WRONG, "gw2": {}})
    opened = {k for k, v in fleet.states().items() if v == "open"}
    assert opened == {("disk_low", "gw1"), ("backlog_old", "gw1"), ("clock_offset", "gw1")}
    assert fleet.states()[("reader_offline", "gw1/turnstile-1")] == "pending"  # its window is 5 minutes
    fleet.minutes(4, beats={"gw1": WRONG, "gw2": {}})
    assert fleet.states()[("reader_offline", "gw1/turnstile-1")] == "open"
    assert fleet.states("s2") == {}  # the other gateway is well
    # gw1 falls silent: its other alerts stay as they were (its last figures are not news) ...
    fleet.minutes(8, beats={"gw2": {}})
    assert fleet.states()[("gateway_silent", "gw1")] == "pending"
    fleet.minutes(2, beats={"gw2": {}})
    assert fleet.states()[("gateway_silent", "gw1")] == "open"  # 10 minutes after its last heartbeat
    assert fleet.states()[("disk_low", "gw1")] == "open"
    # ... and it comes back well: each alert resolves once the clear window has passed, once.
    fleet.minutes(1, beats={"gw1": {}, "gw2": {}})
    assert set(fleet.states().values()) == {"open"}
    fleet.minutes(2, beats={"gw1": {}, "gw2": {}})
    assert set(fleet.states().values()) == {"resolved"}
    assert len(fleet.states()) == 5
    with fleet.engine.connect() as conn:
        listed = alerts_of_school(conn, "s1", fleet.clock())
        assert [a.rule for a in listed].count("gateway_silent") == 1
        assert all(a.resolved_at is not None and a.tell == "resolved" for a in listed)
        assert {a.school_id for a in alerts_of_region(conn, "almaty", fleet.clock())} == {"s1"}


def test_a_silent_gateway_alerts_only_in_school_hours_not_on_a_holiday(fleet: Fleet, clock: Clock) -> None:
    for start in (EVENING, HOLIDAY_MORNING, datetime(2026, 11, 22, 10, 0, tzinfo=LOCAL_TZ)):  # and a Sunday
        clock.now = start.astimezone(UTC)
        fleet.beat("gw1", disk_free_ratio=0.05)
        fleet.minutes(30)
        assert fleet.count("gateway_silent") == 0, start
    # The night before a working day: silent since 20:00, it alerts at 07:10, not at 07:00.
    clock.now = datetime(2026, 11, 17, 20, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
    fleet.beat("gw1")
    clock.now = datetime(2026, 11, 18, 6, 50, tzinfo=LOCAL_TZ).astimezone(UTC)
    fleet.minutes(19)
    assert fleet.states()[("gateway_silent", "gw1")] == "pending"
    fleet.minutes(1)
    assert fleet.states()[("gateway_silent", "gw1")] == "open"


def test_a_reader_offline_out_of_school_hours_opens_nothing(fleet: Fleet, clock: Clock) -> None:
    clock.now = EVENING.astimezone(UTC)
    fleet.minutes(10, beats={"gw1": {"parts": {"link:turnstile-1": "offline"}}})
    assert fleet.count("reader_offline") == 0


def test_a_condition_flickering_at_the_edge_neither_opens_nor_resolves_twice(fleet: Fleet) -> None:
    # Free disk at 14.9 % and 15.1 % by turns, a heartbeat every 40 s: never held for a minute.
    for i in range(30):
        fleet.beat("gw1", disk_free_ratio=0.149 if i % 2 else 0.151)
        fleet.round()
        fleet.clock.pass_(seconds=20)
        fleet.round()
        fleet.clock.pass_(seconds=20)
    assert fleet.count("disk_low") == 0
    fleet.minutes(2, beats={"gw1": {"disk_free_ratio": 0.149}})
    assert fleet.states()[("disk_low", "gw1")] == "open"
    # Open, the same flicker never stays clear for the two minutes it takes to resolve.
    for i in range(30):
        fleet.beat("gw1", disk_free_ratio=0.149 if i % 2 else 0.151)
        fleet.round()
        fleet.clock.pass_(seconds=30)
        fleet.round()
        fleet.clock.pass_(seconds=30)
    assert fleet.states()[("disk_low", "gw1")] == "open"
    fleet.minutes(3, beats={"gw1": {"disk_free_ratio": 0.5}})
    assert fleet.states()[("disk_low", "gw1")] == "resolved"
    assert fleet.count("disk_low") == 1


def test_a_delivery_queue_not_moving_for_15_minutes_alerts_the_deployment(fleet: Fleet) -> None:
    now = fleet.clock()
    with fleet.engine.begin() as conn:
        row = {"school_id": "s1", "person_id": UUID(int=1), "kind": "entry", "state": "pending", "attempts": 0}
        conn.execute(insert(push_queue).values(event_id=UUID(int=1), occurred_at=now, due_at=now, **row))
    fleet.minutes(14)
    assert fleet.states("*") == {("queue_stuck", "push"): "pending"}
    fleet.minutes(2)
    assert fleet.states("*") == {("queue_stuck", "push"): "open"}
    with fleet.engine.begin() as conn:
        conn.execute(push_queue.update().values(state="sent"))
    fleet.minutes(3)
    assert fleet.states("*") == {("queue_stuck", "push"): "resolved"}


def test_a_person_acknowledges_an_alert_once_and_it_is_kept(fleet: Fleet) -> None:
    fleet.minutes(2, beats={"gw1": {"disk_free_ratio": 0.01}})
    with fleet.engine.begin() as conn:
        (alert,) = alerts_of_school(conn, "s1", fleet.clock())
        who = UUID(int=7)
        assert acknowledge(conn, "s1", alert.id, who, fleet.clock())
        assert not acknowledge(conn, "s1", alert.id, UUID(int=8), fleet.clock())  # the first one's is kept
        assert not acknowledge(conn, "s2", alert.id, who, fleet.clock())  # not another school's
        (after,) = alerts_of_school(conn, "s1", fleet.clock())
    assert (after.acknowledged_by, after.acknowledged_at, after.state) == (who, fleet.clock(), "open")


# -- telling people ---------------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[tuple[str, str]]:
        return [(str(m["Subject"]), m.get_content()) for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def _staff(engine: Engine, login: str, role: Role, scope: str | None, language: str | None) -> UUID:
    with engine.begin() as conn:
        account = create_account(conn, login, actor=SYSTEM, password=None, school_id=None)
        grant_role(conn, account.id, role, scope, actor=SYSTEM)
        if language:
            set_notice_settings(conn, account.id, NoticeSettings(language))
    return account.id


def _worker(engine: Engine, database_url: str, clock: Clock, port: int, service_url: str) -> AlertWorker:
    settings = CloudSettings(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_sender="alerts@mektep.kz",
        public_url="https://mektep.example.kz",
        push_service_origins=[*DEFAULT_PUSH_SERVICE_ORIGINS, service_url],
        alert_emails=["duty@mektep.kz"],
    )
    with engine.begin() as conn:
        ensure_vapid_key(conn)
        key = load_vapid_key(conn)
    assert key is not None
    import httpx

    sender = PushSender(key, settings.vapid_subject, httpx.AsyncClient(), endpoints=endpoint_policy(settings))
    return AlertWorker(engine, settings, sender=sender, clock=clock)


def test_the_people_responsible_hear_of_an_opening_and_a_resolution_in_their_language(
    fleet: Fleet, database_url: str, smtp: tuple[int, _Inbox]
) -> None:
    port, inbox = smtp
    engine = fleet.engine
    head = _staff(engine, "head@s1.kz", Role.SCHOOL_ADMIN, "s1", "kk")
    _staff(engine, "it@s1.kz", Role.SCHOOL_IT, "s1", "en")
    _staff(engine, "it@almaty.kz", Role.REGION_IT, "almaty", "ru")
    _staff(engine, "head@s2.kz", Role.SCHOOL_ADMIN, "s2", "ru")  # another school's: hears nothing
    with PushServiceServer() as service:
        device = service.state.new_device()
        sub = device.subscription(service.url)
        old_phone = service.state.new_device()
        service.state.unsubscribe(old_phone)  # its push service answers 410 Gone: the device is forgotten
        with engine.begin() as conn:
            for each in (sub, old_phone.subscription(service.url)):
                subscribe_staff_device(conn, head, each["endpoint"], each["keys"]["p256dh"], each["keys"]["auth"])
        worker = _worker(engine, database_url, fleet.clock, port, service.url)

        async def rounds(minutes: int, **fields: Any) -> None:
            for i in range(minutes * 3):
                if i % 3 == 0:
                    fleet.beat("gw1", **fields)
                await worker.round()
                fleet.clock.pass_(seconds=20)

        async def scenario() -> None:
            await rounds(2, disk_free_ratio=0.08)
            assert len(inbox.messages) == 3
            await rounds(2, disk_free_ratio=0.08)
            assert len(inbox.messages) == 3  # told once
            with engine.begin() as conn:
                (alert,) = alerts_of_school(conn, "s1", fleet.clock())
                acknowledge(conn, "s1", alert.id, head, fleet.clock())
            await rounds(1, disk_free_ratio=0.08)
            assert len(inbox.messages) == 3  # an acknowledgement tells nobody
            await rounds(4, disk_free_ratio=0.5)
            await worker.aclose()

        asyncio.run(scenario())
        assert service.state.wait_for(lambda arrived: len(arrived) >= 2)
        pushed = service.state.for_device(device)
    assert inbox.to("head@s2.kz") == []
    with engine.connect() as conn:
        assert conn.execute(select(staff_push_subscriptions.c.endpoint)).scalars().all() == [sub["endpoint"]]
    (opened_en, resolved_en) = inbox.to("it@s1.kz")
    assert opened_en[0] == "Alert at Школа № 1: The disk of the gateway is nearly full"
    assert "The gateway gw1 has 8 % of its disk free." in opened_en[1]
    assert "https://mektep.example.kz/office/schools/s1/fleet" in opened_en[1]
    assert resolved_en[0].startswith("Resolved at Школа № 1")
    (opened_ru, _resolved_ru) = inbox.to("it@almaty.kz")
    assert "диск" in opened_ru[1] and "https://mektep.example.kz/office/regions/almaty/fleet" in opened_ru[1]
    (opened_kk, _resolved_kk) = inbox.to("head@s1.kz")
    assert "gw1" in opened_kk[1] and "Alert at" not in opened_kk[0]
    assert [p["url"] for p in pushed] == ["https://mektep.example.kz/office/schools/s1/fleet"] * 2
    assert pushed[0]["title"] == opened_kk[0] and pushed[1]["title"] == _resolved_kk[0]


def test_a_database_that_does_not_answer_is_mailed_then_kept_when_it_is_back(
    fleet: Fleet, database_url: str, smtp: tuple[int, _Inbox]
) -> None:
    port, inbox = smtp
    engine = fleet.engine
    _staff(engine, "root@mektep.kz", Role.DEPLOYMENT_ADMIN, None, "en")
    with PushServiceServer() as service:
        worker = _worker(engine, database_url, fleet.clock, port, service.url)
        dead = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")

        async def scenario() -> None:
            await worker.round()  # reads the deployment's administrators while it can
            worker.engine = dead
            for _i in range(3):
                fleet.clock.pass_(seconds=20)
                await worker.round()
            assert inbox.messages == []  # under a minute: not yet
            fleet.clock.pass_(seconds=20)
            await worker.round()
            fleet.clock.pass_(seconds=20)
            await worker.round()
            worker.engine = engine
            for _i in range(8):
                fleet.clock.pass_(seconds=20)
                await worker.round()
            await worker.aclose()

        asyncio.run(scenario())
    assert [str(m["Subject"]) for m in inbox.messages] == [
        "Alert at the deployment: The database does not answer",  # root, in English, read before the outage
        "Жүйе — дабыл: Дерекқор жауап бермейді",  # the duty address of the settings, in the default language
        "Resolved at the deployment: The database does not answer",  # root, once the row is written
    ]
    assert [m["To"] for m in inbox.messages] == ["root@mektep.kz", "duty@mektep.kz", "root@mektep.kz"]
    assert fleet.states("*") == {("database_down", "database"): "resolved"}


def test_staff_subscribe_a_device_to_alerts_and_a_guardian_cannot(world: World) -> None:
    from cloud_api.push.subscriptions import notice_settings

    device = {"endpoint": "https://fcm.googleapis.com/fcm/send/head-phone", "keys": {"p256dh": P256DH, "auth": AUTH}}
    head = {**world.token("head@s1.kz"), "Accept-Language": "en"}
    assert world.client.post("/v1/me/staff-push-subscriptions", json=device, headers=head).status_code == 204
    assert world.client.post("/v1/me/staff-push-subscriptions", json=device, headers=head).status_code == 204  # again
    father = world.token("father@mail.kz")
    refused = world.client.post("/v1/me/staff-push-subscriptions", json=device, headers=father)
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "not_allowed"
    engine = world.app.state.engine
    with engine.connect() as conn:
        rows = conn.execute(select(staff_push_subscriptions.c.account_id, staff_push_subscriptions.c.endpoint)).all()
        assert rows == [(world.ids["head1"], device["endpoint"])]
        assert notice_settings(conn, world.ids["head1"]).language == "en"
    gone = world.client.delete("/v1/me/staff-push-subscriptions", params={"endpoint": device["endpoint"]}, headers=head)
    assert gone.status_code == 204
    with engine.connect() as conn:
        assert conn.execute(select(staff_push_subscriptions)).all() == []
