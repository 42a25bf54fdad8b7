"""The broker launcher: restarts keep sessions, users and ACLs are enforced, failures say why."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from device_drivers.base import Feedback, LinkState
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from simulators import broker as broker_module
from simulators.broker import Broker, BrokerError, MosquittoBroker, start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from tests.conftest import MOSQUITTO_MISSING, RecordingSink, eventually, mosquitto_path, need

pytestmark = pytest.mark.mosquitto

ACL = """\
user gw-1
topic readwrite mektep/s1/#

user canteen-1
topic write mektep/s1/canteen-1/tap
topic read mektep/s1/canteen-1/feedback
topic readwrite mektep/s1/canteen-1/status
"""


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_restart_keeps_the_port_and_the_queued_messages(mosquitto_broker: Broker) -> None:
    port = mosquitto_broker.port
    # a persistent subscriber that goes away: what is published meanwhile waits for it
    away = CanteenTerminalSim(mosquitto_broker.host, port, school="s1", device="canteen-1")
    away.wait_connected()
    away.close()
    sender = CanteenTerminalSim(mosquitto_broker.host, port, school="s1", device="gw-as-terminal")
    sender.wait_connected()
    for i in range(5):  # published on canteen-1's feedback topic, as the gateway does
        sender.client.publish("mektep/s1/canteen-1/feedback", f'{{"tap_id": "t{i}"}}', qos=1)
    assert sender.wait_published(5)
    sender.close()

    mosquitto_broker.restart()
    assert mosquitto_broker.port == port and listening(port)
    back = CanteenTerminalSim(mosquitto_broker.host, port, school="s1", device="canteen-1")
    try:
        back.wait_connected()
        assert back.wait_feedback(lambda m: m.get("tap_id") == "t4", 5) is not None
        assert [m["tap_id"] for m in back.feedback] == [f"t{i}" for i in range(5)]
    finally:
        back.close()
    mosquitto_broker.stop()
    assert not listening(port)
    mosquitto_broker.stop()  # twice is fine


async def test_users_and_acl_are_enforced(tmp_path: Path) -> None:
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    users = {"gw-1": "gw-secret", "canteen-1": "c1-secret"}
    with start_broker(workdir=tmp_path / "b", users=users, acl=ACL) as broker:
        config = MqttTerminalConfig(
            school_id="s1",
            gateway_id="gw-1",
            terminal_ids=("canteen-1", "canteen-2"),
            host=broker.host,
            port=broker.port,
            username="gw-1",
            password="gw-secret",
        )
        driver = MqttTerminalDriver(config)
        sink = RecordingSink()
        sink.on_read = lambda r: driver.feedback(r.reader_id, Feedback(True, "ok", ref=r.ref))
        task = asyncio.create_task(driver.run(sink))
        terminal = CanteenTerminalSim(
            broker.host, broker.port, school="s1", device="canteen-1", username="canteen-1", password="c1-secret"
        )
        try:
            await eventually(lambda: driver.online)
            await asyncio.to_thread(terminal.wait_connected)
            terminal.publish_raw(b'{"tap_id": "spoof", "credential": "C"}', device="canteen-2")  # not its topic
            own = terminal.tap("CARD")
            assert await asyncio.to_thread(terminal.wait_feedback_for, own, 5.0) is not None
            await asyncio.sleep(0.2)
            assert [r.ref for r in sink.reads] == [own]  # the spoofed tap was dropped by the broker
            assert sink.states("canteen-1") == [LinkState.ONLINE]
        finally:
            terminal.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_a_broker_that_cannot_start_says_why(tmp_path: Path) -> None:
    binary = mosquitto_path()
    need(binary is not None, MOSQUITTO_MISSING)
    assert binary is not None
    broken = MosquittoBroker(binary, tmp_path / "bad")
    broken.config.write_text(broken.config.read_text() + "no_such_option 1\n")
    with pytest.raises(BrokerError, match="no_such_option"):
        broken.start()


def test_without_mosquitto_the_hint_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    with pytest.raises(FileNotFoundError, match="apt-get install mosquitto"):
        start_broker()
