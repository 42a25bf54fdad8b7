"""A canteen terminal over MQTT: publishes taps at QoS 1 and collects the feedback it gets."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_drivers.mqtt_terminal.codec import topic

__all__ = ["CanteenTerminalSim"]


class CanteenTerminalSim:
    """One terminal with its own persistent session, Last Will and retained status."""

    def __init__(self, host: str, port: int, *, school: str, device: str) -> None:
        self.school, self.device = school, device
        self.feedback: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"terminal-{device}", clean_session=False
        )
        self.client.will_set(topic(school, device, "status"), "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(topic(self.school, self.device, "feedback"), qos=1)
        client.publish(topic(self.school, self.device, "status"), "online", qos=1, retain=True)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        with self._cond:
            self.feedback.append({**data, "received_at": time.perf_counter()})
            self._cond.notify_all()

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait until the broker has accepted the connection."""
        deadline = time.monotonic() + timeout_s
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError("terminal could not connect to the broker")
            time.sleep(0.02)

    def tap(self, credential: str, kind: str = "mqtt_card") -> str:
        """Publish a tap (QoS 1); returns its tap_id. paho queues it while the broker is away."""
        tap_id = f"{self.device}-{int(time.time() * 1000)}-{next(self._ids)}"
        payload = json.dumps({"tap_id": tap_id, "credential": credential, "kind": kind})
        self.client.publish(topic(self.school, self.device, "tap"), payload, qos=1)
        return tap_id

    def publish_raw(self, payload: bytes) -> None:
        """Publish any bytes as a tap (for malformed-payload tests)."""
        self.client.publish(topic(self.school, self.device, "tap"), payload, qos=1)

    def wait_feedback(self, predicate: Any, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """The first feedback message for which ``predicate(msg)`` is true, or None after the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for msg in self.feedback:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect cleanly (status "offline")."""
        self.client.publish(topic(self.school, self.device, "status"), "offline", qos=1, retain=True)
        self.client.disconnect()
        self.client.loop_stop()
