"""The canteen terminal simulator: unique tap ids, retained status, Last Will, QoS 1 across a restart."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_drivers.mqtt_terminal.codec import parse_tap
from simulators.broker import Broker
from simulators.canteen_terminal import CanteenTerminalSim

pytestmark = pytest.mark.mosquitto


class Listener:
    """A plain subscriber to the school's topics, ready once the broker has granted the subscription.

    Waiting for SUBACK matters: a tap published between CONNACK and SUBACK would never reach it.
    """

    def __init__(self, broker: Broker) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("mektep/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("the listener's subscription was not granted")

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((m.topic, bytes(m.payload), bool(m.retain)))
            self.cond.notify_all()

    def wait(self, predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
        with self.cond:
            return self.cond.wait_for(lambda: any(predicate(*m) for m in self.messages), timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_status_online_then_last_will(mosquitto_broker: Broker) -> None:
    sim = CanteenTerminalSim(mosquitto_broker.host, mosquitto_broker.port, school="s1", device="canteen-1")
    sim.wait_connected()
    # The retained "online" must be at the broker before the listener subscribes: delivered live, a
    # message carries no retain flag (CONNACK comes before the status's PUBACK; CI once lost that race).
    assert sim.wait_published(5)
    listener = Listener(mosquitto_broker)
    try:
        status = "mektep/s1/canteen-1/status"
        assert listener.wait(lambda t, p, r: t == status and p == b"online" and r)  # retained
        sim.crash()
        assert listener.wait(lambda t, p, r: t == status and p == b"offline")
    finally:
        listener.close()


def test_taps_have_unique_ids_and_survive_a_broker_restart(mosquitto_broker: Broker) -> None:
    listener = Listener(mosquitto_broker)
    sim = CanteenTerminalSim(mosquitto_broker.host, mosquitto_broker.port, school="s1", device="canteen-1")
    try:
        sim.wait_connected()
        before = [sim.tap(f"CARD{i}") for i in range(5)]
        assert sim.wait_published(5)
        mosquitto_broker.stop()
        during = [sim.tap(f"LATE{i}", kind="qr") for i in range(5)]  # queued by paho
        mosquitto_broker.start()
        assert sim.wait_published(10)
        assert len(set(before + during)) == 10 and sim.published == before + during
        taps = lambda: {parse_tap(p).tap_id for t, p, _ in listener.messages if t.endswith("/tap")}  # type: ignore[union-attr]  # noqa: E731
        assert listener.wait(lambda *_: set(before) <= taps())
    finally:
        sim.close()
        listener.close()
