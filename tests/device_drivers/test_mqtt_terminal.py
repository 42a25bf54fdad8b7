"""MQTT terminal driver against a real mosquitto: taps, malformed payloads, restarts, persistent sessions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_drivers.base import CardRead, Feedback, LinkState
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from simulators.broker import Broker, start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from tests.conftest import MOSQUITTO_MISSING, RecordingSink, eventually, mosquitto_path, need, running

SCHOOL, GATEWAY = "s1", "gw-1"
GATEWAY_STATUS = f"mektep/{SCHOOL}/gateway/{GATEWAY}/status"
pytestmark = pytest.mark.mosquitto


def make_driver(broker: Broker, **options: object) -> MqttTerminalDriver:
    config = MqttTerminalConfig(
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        terminal_ids=("canteen-1", "canteen-2"),
        host=broker.host,
        port=broker.port,
        keepalive_s=5,
        **options,  # type: ignore[arg-type]
    )
    driver = MqttTerminalDriver(config)
    driver.reconnect_initial_s, driver.reconnect_max_s = 0.1, 0.5
    return driver


def answering(driver: MqttTerminalDriver) -> RecordingSink:
    """A sink that grants every read, as the gateway's pipeline would after recording it."""
    sink = RecordingSink()

    def answer(read: CardRead) -> None:
        answer = Feedback(True, "free_meal", display="Ас болсын", ref=read.ref, person="Әлия Н.", group="3Б")
        driver.feedback(read.reader_id, answer)

    sink.on_read = answer
    return sink


@pytest.fixture
def terminal(mosquitto_broker: Broker) -> Iterator[CanteenTerminalSim]:
    sim = CanteenTerminalSim(mosquitto_broker.host, mosquitto_broker.port, school=SCHOOL, device="canteen-1")
    sim.wait_connected()
    yield sim
    sim.close()


def retained(broker: Broker, name: str, timeout_s: float = 3.0) -> str | None:
    """The retained message on ``name``, read by a throw-away client."""
    got: list[str] = []
    done = threading.Event()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(name, qos=1)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        got.append(message.payload.decode())
        done.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(timeout_s)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


def refs(sink: RecordingSink) -> set[str | None]:
    return {r.ref for r in sink.reads}


async def test_taps_become_reads_with_the_tap_id_and_are_answered(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    driver = make_driver(mosquitto_broker)
    sink = answering(driver)
    async with running(driver, sink):
        await eventually(lambda: driver.online, what="driver online")
        assert await asyncio.to_thread(retained, mosquitto_broker, GATEWAY_STATUS) == "online"
        tap_ids = [terminal.tap(f"CARD{i}") for i in range(4)] + [terminal.tap("QR-PAYLOAD", kind="qr")]
        for tap_id in tap_ids:
            fb = await asyncio.to_thread(terminal.wait_feedback_for, tap_id, 5.0)
            assert fb is not None and fb["status"] == "ok" and fb["granted"] and fb["display"] == "Ас болсын"
            assert (fb["name"], fb["class"], fb["colour"], fb["sound"]) == ("Әлия Н.", "3Б", "green", "ok")
            assert (latency := terminal.latency_s(tap_id)) is not None and 0 < latency < 5
        assert [r.ref for r in sink.reads] == tap_ids
        assert [r.credential for r in sink.reads] == ["CARD0", "CARD1", "CARD2", "CARD3", "QR-PAYLOAD"]
        assert [r.kind.value for r in sink.reads] == ["mqtt_card"] * 4 + ["qr"]
        assert {r.reader_id for r in sink.reads} == {"canteen-1"}
        assert driver.stats.reads == 5 and driver.stats.feedback_sent == 5 and not driver.stats.errors
    assert sink.states(driver.link_id) == [LinkState.ONLINE, LinkState.OFFLINE]
    assert await asyncio.to_thread(retained, mosquitto_broker, GATEWAY_STATUS) == "offline"


async def test_malformed_payloads_are_counted_answered_and_the_connection_kept(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    driver = make_driver(mosquitto_broker)
    sink = answering(driver)
    async with running(driver, sink):
        await eventually(lambda: driver.online)
        for payload in [
            b"not json",
            b"[1, 2]",
            b'{"tap_id": "m1"}',
            b'{"tap_id": "m2", "credential": 5}',
            b'{"tap_id": "m3", "credential": "C", "kind": "barcode"}',
            b'{"tap_id": "' + b"x" * 5000 + b'", "credential": "C"}',
        ]:
            terminal.publish_raw(payload)
        terminal.publish_raw(b'{"tap_id": "u1", "credential": "C"}', device="canteen-9")  # not ours
        errors = lambda: [f for f in terminal.feedback if f["status"] == "error"]  # noqa: E731
        await eventually(lambda: len(errors()) == 6, what="six error answers")
        by_tap = {f["tap_id"]: f["reason"] for f in errors() if f["tap_id"]}
        assert by_tap == {"m1": "missing_field:credential", "m2": "bad_field:credential", "m3": "bad_field:kind"}
        assert sorted(f["reason"] for f in errors() if not f["tap_id"]) == ["not_json", "not_object", "too_large"]
        assert all(f["granted"] is False for f in errors())

        good = terminal.tap("GOODCARD")  # the same connection goes on working
        assert await asyncio.to_thread(terminal.wait_feedback_for, good, 5.0) is not None
        await eventually(lambda: driver.stats.errors["unknown_terminal"] == 1)
        assert dict(driver.stats.errors) == {
            "not_json": 1,
            "not_object": 1,
            "missing_field": 1,
            "bad_field": 2,
            "too_large": 1,
            "unknown_terminal": 1,
        }
        assert [r.ref for r in sink.reads] == [good]
        assert driver.stats.reconnects == 0 and driver.online


async def test_broker_restart_while_the_terminal_publishes_loses_no_tap(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    driver = make_driver(mosquitto_broker)
    sink = answering(driver)
    async with running(driver, sink):
        await eventually(lambda: driver.online)

        while_away: list[str] = []

        def publish_burst() -> None:
            for i in range(60):
                tap_id = terminal.tap(f"CARD{i}")
                if not terminal.connected:
                    while_away.append(tap_id)  # queued by paho, sent after its reconnect
                time.sleep(0.01)

        burst = asyncio.create_task(asyncio.to_thread(publish_burst))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(mosquitto_broker.restart)
        await burst
        await eventually(lambda: set(terminal.published) <= refs(sink), timeout_s=20, what="every tap delivered")
        assert len(terminal.published) == 60 and while_away
        assert driver.stats.reconnects >= 1 and driver.online
        assert LinkState.OFFLINE in sink.states(driver.link_id)


async def test_taps_queued_while_the_gateway_was_away_arrive_when_it_comes_back(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    first = make_driver(mosquitto_broker)
    async with running(first, answering(first)):
        await eventually(lambda: first.online)  # the persistent session and its subscription exist now
    sent = [terminal.tap(f"CARD{i}") for i in range(10)]
    assert await asyncio.to_thread(terminal.wait_published, 5.0)

    again = make_driver(mosquitto_broker)  # same client id, as after a gateway restart
    sink = answering(again)
    async with running(again, sink):
        await eventually(lambda: len(sink.reads) == 10, what="queued taps delivered")
        assert again.session_present is True
        assert [r.ref for r in sink.reads] == sent


async def test_a_tap_is_acknowledged_only_once_it_is_answered(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    silent = make_driver(mosquitto_broker)
    unanswered = RecordingSink()  # a gateway that dies before recording the tap
    async with running(silent, unanswered):
        await eventually(lambda: silent.online)
        tap_id = terminal.tap("CARD-X")
        await eventually(lambda: refs(unanswered) == {tap_id})

    gateway = make_driver(mosquitto_broker)
    sink = answering(gateway)
    async with running(gateway, sink):
        await eventually(lambda: refs(sink) == {tap_id}, what="the unanswered tap delivered again")
        assert await asyncio.to_thread(terminal.wait_feedback_for, tap_id, 5.0) is not None

    after = make_driver(mosquitto_broker)
    late = RecordingSink()
    async with running(after, late):
        await eventually(lambda: after.online)
        await asyncio.sleep(0.3)
        assert late.reads == []  # answered, hence acknowledged: not delivered a third time


async def test_a_tap_nobody_answers_is_acknowledged_after_the_timeout(
    mosquitto_broker: Broker, terminal: CanteenTerminalSim
) -> None:
    driver = make_driver(mosquitto_broker, ack_timeout_s=0.2)
    sink = RecordingSink()
    async with running(driver, sink):
        await eventually(lambda: driver.online)
        terminal.tap("CARD-Y")
        await eventually(lambda: driver.stats.errors["ack_timeout"] == 1, timeout_s=5)
    after = make_driver(mosquitto_broker)
    late = RecordingSink()
    async with running(after, late):
        await eventually(lambda: after.online)
        await asyncio.sleep(0.3)
        assert late.reads == []


async def test_terminal_status_and_last_will_are_reported(mosquitto_broker: Broker) -> None:
    driver = make_driver(mosquitto_broker)
    sink = RecordingSink()
    async with running(driver, sink):
        await eventually(lambda: driver.online)
        sim = CanteenTerminalSim(mosquitto_broker.host, mosquitto_broker.port, school=SCHOOL, device="canteen-2")
        await asyncio.to_thread(sim.wait_connected)
        await eventually(lambda: sink.states("canteen-2") == [LinkState.ONLINE])
        sim.crash()  # no DISCONNECT: mosquitto publishes the terminal's Last Will
        await eventually(lambda: sink.states("canteen-2") == [LinkState.ONLINE, LinkState.OFFLINE])


async def test_feedback_while_disconnected_is_dropped(mosquitto_broker: Broker) -> None:
    driver = make_driver(mosquitto_broker)
    driver.feedback("canteen-1", Feedback(True, "ok", ref="t1"))
    assert driver.stats.errors["feedback_dropped"] == 1 and driver.stats.feedback_sent == 0


async def test_a_refused_login_keeps_retrying_until_it_is_right(tmp_path: Path) -> None:
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    with start_broker(workdir=tmp_path / "auth", users={"gw-1": "right", "canteen-1": "pw"}) as broker:
        wrong = make_driver(broker, username="gw-1", password="wrong")
        sink = RecordingSink()
        async with running(wrong, sink):
            await eventually(lambda: wrong.online is False, what="refusal reported")
            await asyncio.sleep(0.3)
            assert wrong.online is False and "refused" in sink.status[-1].detail
        right = make_driver(broker, username="gw-1", password="right")
        async with running(right, RecordingSink()):
            await eventually(lambda: right.online is True)
