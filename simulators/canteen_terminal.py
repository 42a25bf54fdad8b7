"""A canteen terminal over MQTT: publishes taps at QoS 1 and collects the feedback it gets.

Like a real terminal it keeps one persistent session (``clean_session=False``, client id
``terminal-{device}``), sets a Last Will "offline" and publishes a retained "online" on its status
topic at every connect, and lets paho reconnect by itself: taps published while the broker is away
are queued by paho and sent (again, if unacknowledged) when the connection is back.

It keeps the terminals' side of the contract (README, "Canteen terminals"): a tap without an answer
within ``retry_after_s`` is published again, the same bytes with the same ``tap_id``, every
``retry_after_s`` until it is answered (or ``give_up_s`` after the first try). The broker's PUBACK
only says the broker has it: a broker that dies before it saved or delivered the tap forgets it,
and only the terminal still knows. The gateway answers a repeated ``tap_id`` with what it recorded
the first time, so a repeat never serves twice.

Latency: :meth:`CanteenTerminalSim.tap` records ``sent_at[tap_id]`` (``time.perf_counter``) and
every feedback message gets ``received_at`` on the same clock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_drivers.mqtt_terminal.codec import STATUS_OFFLINE, STATUS_ONLINE, encode_tap, topic
from device_drivers.mqtt_terminal.driver import send_at_once

__all__ = ["CanteenTerminalSim"]

Feedback = dict[str, Any]


class CanteenTerminalSim:
    """One terminal; connects on creation (in the background, see :meth:`wait_connected`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        school: str,
        device: str,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 10,
        retry_after_s: float = 2.0,
        give_up_s: float = 120.0,
    ) -> None:
        self.school, self.device = school, device
        self.retry_after_s, self.give_up_s = retry_after_s, give_up_s
        self.retries: dict[str, int] = {}  # tap_id -> times it was published again
        # tap_id -> (payload, first sent, last sent) of every tap not answered yet
        self._waiting: dict[str, tuple[bytes, float, float]] = {}
        self._closing = threading.Event()
        self.feedback: list[Feedback] = []  # every feedback message, with "received_at" added
        self.sent_at: dict[str, float] = {}  # tap_id -> perf_counter when published
        self.published: list[str] = []  # tap ids in the order they were published
        # mids the broker has not acknowledged yet; acks that overtook publish() returning
        self._unacked: set[int] = set()
        self._early_acks: set[int] = set()
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"terminal-{device}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(self._topic("status"), STATUS_OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        send_at_once(self.client)  # as a good terminal does: no 40 ms Nagle wait on a tap
        self.client.connect_async(host, port, keepalive=keepalive_s)
        self.client.loop_start()
        self._resender = threading.Thread(target=self._resend_unanswered, name=f"resend-{device}", daemon=True)
        self._resender.start()

    def _topic(self, leaf: str) -> str:
        return topic(self.school, self.device, leaf)

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            return
        client.subscribe(self._topic("feedback"), qos=1)
        self._track(client.publish(self._topic("status"), STATUS_ONLINE, qos=1, retain=True))
        self._connected.set()

    def _on_disconnect(self, *_: object) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            data = json.loads(message.payload)
        except ValueError:
            data = {"raw": bytes(message.payload).decode(errors="replace")}
        if not isinstance(data, dict):
            data = {"raw": data}
        with self._cond:
            self.feedback.append({**data, "received_at": time.perf_counter()})
            self._waiting.pop(str(data.get("tap_id")), None)
            self._cond.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._cond:
            if mid in self._unacked:
                self._unacked.discard(mid)
            else:
                self._early_acks.add(mid)
            self._cond.notify_all()

    def _track(self, info: mqtt.MQTTMessageInfo) -> None:
        # A QoS 1 message published while disconnected is queued by paho (rc NO_CONN) and sent,
        # with the same mid, after the reconnect: its PUBACK is what counts, not rc.
        with self._cond:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
            else:
                self._unacked.add(info.mid)

    # -- connection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (and not lost it since)."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait until the broker has accepted the connection; ``TimeoutError`` otherwise."""
        if not self._connected.wait(timeout_s):
            raise TimeoutError(f"terminal {self.device} could not connect to the broker")

    # -- taps ----------------------------------------------------------------------------------

    def tap(self, credential: str, kind: str = "mqtt_card", tap_id: str | None = None) -> str:
        """Publish a tap at QoS 1 and return its tap_id (unique unless given); it is resent until answered."""
        tap_id = tap_id or f"{self.device}-{uuid.uuid4().hex[:16]}"
        payload = encode_tap(tap_id, credential, kind)
        with self._cond:
            now = time.perf_counter()
            self.sent_at[tap_id] = now
            self.published.append(tap_id)
            self._waiting[tap_id] = (payload, now, now)
        self._track(self.client.publish(self._topic("tap"), payload, qos=1))
        return tap_id

    def unanswered(self) -> list[str]:
        """The taps still waiting for an answer (being resent)."""
        with self._cond:
            return list(self._waiting)

    def _resend_unanswered(self) -> None:
        while not self._closing.wait(0.05):
            now = time.perf_counter()
            due: list[tuple[str, bytes]] = []
            with self._cond:
                for tap_id, (payload, first, last) in list(self._waiting.items()):
                    if now - first > self.give_up_s:
                        del self._waiting[tap_id]  # a real terminal would now say "no answer, tap again"
                    elif now - last >= self.retry_after_s:
                        self._waiting[tap_id] = (payload, first, now)
                        self.retries[tap_id] = self.retries.get(tap_id, 0) + 1
                        due.append((tap_id, payload))
            for _tap_id, payload in due:
                if self.client.is_connected():  # else paho would queue it behind the session's own resend
                    self._track(self.client.publish(self._topic("tap"), payload, qos=1))

    def publish_raw(self, payload: bytes, *, device: str | None = None) -> None:
        """Publish any bytes as a tap (QoS 1), on this terminal's topic or ``device``'s."""
        name = topic(self.school, device, "tap") if device else self._topic("tap")
        self._track(self.client.publish(name, payload, qos=1))

    def wait_published(self, timeout_s: float = 10.0) -> bool:
        """Wait until the broker has acknowledged (PUBACK) everything published so far."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._unacked, timeout_s)

    # -- feedback ------------------------------------------------------------------------------

    def wait_feedback(self, predicate: Callable[[Feedback], bool], timeout_s: float = 10.0) -> Feedback | None:
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

    def wait_feedback_for(self, tap_id: str, timeout_s: float = 10.0) -> Feedback | None:
        """The feedback that answers ``tap_id``, or None after the timeout."""
        return self.wait_feedback(lambda m: m.get("tap_id") == tap_id, timeout_s)

    def latency_s(self, tap_id: str) -> float | None:
        """Seconds from publishing ``tap_id`` to its first feedback, if it came."""
        with self._cond:
            sent = self.sent_at.get(tap_id)
            got = next((m["received_at"] for m in self.feedback if m.get("tap_id") == tap_id), None)
        return None if sent is None or got is None else got - sent

    # -- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Disconnect cleanly: publish "offline" (a clean disconnect does not fire the Last Will)."""
        self._closing.set()
        if self.client.is_connected():
            info = self.client.publish(self._topic("status"), STATUS_OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # the connection went while publishing
                info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def crash(self) -> None:
        """Drop the connection without a DISCONNECT: the broker publishes the Last Will."""
        self._closing.set()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
