"""Canteen terminals over MQTT: one paho-mqtt connection for every terminal of the school.

Choices, and why:

* **MQTT 3.1.1, ``clean_session=False``, a fixed client id.** The broker keeps the gateway's
  subscription and queues QoS 1 taps while the gateway is away, and delivers them when it comes
  back. 3.1.1 rather than 5 (``clean_start=False`` + session expiry) because 3.1.1 is all the
  embedded fallback broker (amqtt) speaks; Mosquitto keeps a 3.1.1 session until its
  ``persistent_client_expiration`` (unset: forever), which is what a gateway away for days needs.
* **One reconnect loop: :meth:`LinkDriver.run`'s.** paho's own reconnection is off
  (``reconnect_on_failure=False``): ``open()`` connects and waits for the CONNACK, ``read()``
  returns (raises :class:`LinkLost`) when paho reports the disconnect, ``close()`` stops paho's
  network thread, and ``run()`` reopens with backoff. So the link's status, its reconnect counter
  and its backoff behave as for every other driver, and no stray paho thread reconnects behind
  the driver's back. Each connection is a fresh ``Client``; the session lives in the broker.
* **Acknowledge a tap when it is answered.** With ``manual_ack=True`` the PUBACK of a tap goes out
  when the gateway calls :meth:`MqttTerminalDriver.feedback` for it, which the pipeline does only
  after the event is on disk. A gateway killed in between leaves the tap unacknowledged, so the
  broker delivers it again (with the same ``tap_id``, which the outbox recognises). A tap nobody
  answers within ``ack_timeout_s`` is acknowledged anyway (counted ``ack_timeout``) so that the
  broker's in-flight window never jams.

paho runs its network thread (``loop_start``); everything it reports is handed to the asyncio loop
with ``call_soon_threadsafe`` and handled there, so the driver's state is touched by one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from device_drivers.base import CardRead, Feedback, LinkDriver, LinkLost, LinkState, ReadSink, StatusChange, utcnow
from device_drivers.mqtt_terminal.codec import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    TapError,
    encode_feedback,
    gateway_status_topic,
    parse_tap,
    split_topic,
    topic,
)

__all__ = ["MqttTerminalConfig", "MqttTerminalDriver", "send_at_once"]

log = logging.getLogger(__name__)

_Incoming = tuple[mqtt.Client, str, bytes, int, int]  # client, topic, payload, mid, qos


def send_at_once(client: mqtt.Client) -> None:
    """Turn Nagle's algorithm off on ``client``'s connections (paho leaves it on).

    A tap's acknowledgement and its answer are two small packets back to back: with Nagle on, the
    second waits for the broker's delayed ACK of the first, some 40 ms of a child's wait at the till.
    """

    def opened(_client: mqtt.Client, _userdata: object, sock: Any) -> None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client.on_socket_open = opened


@dataclass(frozen=True, slots=True)
class MqttTerminalConfig:
    """The broker, and which terminals this gateway serves. ``client_id`` defaults to ``{gateway_id}-gateway``."""

    school_id: str
    gateway_id: str
    terminal_ids: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 30.0


@dataclass(slots=True)
class _Unacked:
    client: mqtt.Client
    mid: int
    qos: int
    since: float


class MqttTerminalDriver(LinkDriver):
    """Taps in, feedback out, over one persistent MQTT session.

    ``reader_ids`` are the terminal ids; a tap from any other device of the school is counted
    ``unknown_terminal`` and ignored. Counters (``stats.errors``): ``not_json``, ``not_object``,
    ``missing_field``, ``bad_field``, ``too_large`` (each also answered on the terminal's feedback
    topic with ``status: error`` and the full code, e.g. ``missing_field:credential``),
    ``unknown_terminal``, ``bad_status``, ``feedback_dropped``, ``ack_timeout``.

    Terminals' retained status messages are reported to the sink as :class:`StatusChange` of the
    terminal's id, on change only.
    """

    reconnect_initial_s = 0.5

    def __init__(self, config: MqttTerminalConfig) -> None:
        super().__init__()
        self.config = config
        self.link_id = f"{config.gateway_id}-mqtt"
        self.reader_ids = tuple(config.terminal_ids)
        self.client_id = config.client_id or f"{config.gateway_id}-gateway"
        self.status_topic = gateway_status_topic(config.school_id, config.gateway_id)
        self.session_present: bool | None = None  # what the broker said at the last CONNACK
        self._known = frozenset(self.reader_ids)
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connack: asyncio.Future[bool] | None = None
        self._lost: asyncio.Future[str] | None = None
        self._sink: ReadSink | None = None
        self._early: list[_Incoming] = []  # arrived between CONNACK and read(): the sink was not there yet
        self._unacked: dict[tuple[str, str], list[_Unacked]] = {}
        self._terminal_state: dict[str, LinkState] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, subscribe and say "online"; raise if the broker is absent or refuses."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._connack = loop.create_future()
        self._lost = loop.create_future()
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        client.will_set(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        send_at_once(client)
        self._client = client
        try:
            # The TCP connect blocks (and may resolve a name): keep it off the loop.
            await asyncio.to_thread(client.connect, self.config.host, self.config.port, self.config.keepalive_s)
            client.loop_start()
            async with asyncio.timeout(self.config.connect_timeout_s):
                self.session_present = await self._connack
        except BaseException:
            await self.close()
            raise
        if not self.session_present:
            log.info("%s: the broker had no session for %s (first start, or it was lost)", self.link_id, self.client_id)

    async def read(self, sink: ReadSink) -> None:
        """Hand taps to ``sink`` until the connection drops, then raise :class:`LinkLost`."""
        lost = self._lost
        if lost is None or self._client is None:
            raise LinkLost("not connected")
        self._sink = sink
        early, self._early = self._early, []
        for item in early:
            self._handle(*item)
        try:
            while True:
                done, _ = await asyncio.wait({lost}, timeout=1.0)
                if done:
                    raise LinkLost(lost.result())
                self._ack_overdue()
        finally:
            self._sink = None

    async def close(self) -> None:
        """Say "offline", disconnect and stop paho's thread. Unanswered taps stay with the broker."""
        client, self._client = self._client, None
        self._unacked.clear()
        self._early.clear()
        if client is None:
            return
        if client.is_connected():
            client.publish(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    # -- feedback --------------------------------------------------------------------------

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Publish the answer on the terminal's feedback topic (QoS 1) and acknowledge the tap."""
        payload = encode_feedback(
            feedback.ref,
            ok=True,
            granted=feedback.granted,
            reason=feedback.reason,
            display=feedback.display,
            name=feedback.person,
            group=feedback.group,
        )
        if self._publish(reader_id, payload):
            self.stats.feedback_sent += 1
        if feedback.ref is not None:
            for pending in self._unacked.pop((reader_id, feedback.ref), []):
                self._ack(pending.client, pending.mid, pending.qos)

    def _publish(self, device: str, payload: bytes) -> bool:
        client = self._client
        if client is None or not client.is_connected():
            self.stats.error("feedback_dropped")  # a stale answer is worse than none: do not queue it
            return False
        info = client.publish(topic(self.config.school_id, device, "feedback"), payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats.error("feedback_dropped")
            return False
        return True

    def _ack(self, client: mqtt.Client, mid: int, qos: int) -> None:
        if qos > 0 and client is self._client:  # an ack on a closed connection means nothing
            client.ack(mid, qos)

    def _ack_overdue(self) -> None:
        cutoff = time.monotonic() - self.config.ack_timeout_s
        for key in [k for k, items in self._unacked.items() if items[0].since < cutoff]:
            for pending in self._unacked.pop(key):
                self.stats.error("ack_timeout")
                self._ack(pending.client, pending.mid, pending.qos)

    # -- paho's thread: hand everything to the loop ----------------------------------------

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
                loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: mqtt.Client, _u: object, flags: Any, reason: Any, _p: object) -> None:
        if reason.is_failure:
            self._to_loop(self._connect_failed, client, f"broker refused the connection: {reason}")
            return
        school = self.config.school_id
        client.subscribe([(topic(school, "+", "tap"), 1), (topic(school, "+", "status"), 1)])
        client.publish(self.status_topic, STATUS_ONLINE, qos=1, retain=True)
        self._to_loop(self._connected, client, bool(flags.session_present))

    def _on_disconnect(self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        self._to_loop(self._connect_failed, client, f"broker disconnected: {reason}")

    def _on_message(self, client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self._to_loop(self._handle, client, message.topic, bytes(message.payload), message.mid, message.qos)

    # -- on the loop -----------------------------------------------------------------------

    def _connected(self, client: mqtt.Client, session_present: bool) -> None:
        if client is self._client and self._connack is not None and not self._connack.done():
            self._connack.set_result(session_present)

    def _connect_failed(self, client: mqtt.Client, detail: str) -> None:
        if client is not self._client:
            return  # an old connection, or the one close() is ending
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(LinkLost(detail))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(detail)

    def _handle(self, client: mqtt.Client, name: str, payload: bytes, mid: int, qos: int) -> None:
        if client is not self._client:
            return  # not acknowledged: the broker delivers it again on the next connection
        sink = self._sink
        if sink is None:
            self._early.append((client, name, payload, mid, qos))
            return
        parts = split_topic(name)
        if parts is None or parts[0] != self.config.school_id:
            self._ack(client, mid, qos)
            return
        _, device, leaf = parts
        if leaf == "status":
            self._ack(client, mid, qos)
            self._terminal_status(sink, device, payload)
            return
        if device not in self._known:
            self.stats.error("unknown_terminal")
            self._ack(client, mid, qos)
            return
        tap = parse_tap(payload)
        if isinstance(tap, TapError):
            self.stats.error(tap.reason)
            self._publish(device, encode_feedback(tap.tap_id, ok=False, granted=False, reason=tap.code, display=""))
            self._ack(client, mid, qos)
            return
        self.stats.reads += 1
        if qos > 0:
            self._unacked.setdefault((device, tap.tap_id), []).append(_Unacked(client, mid, qos, time.monotonic()))
        sink.card_read(CardRead(device, tap.credential, tap.kind, utcnow(), ref=tap.tap_id))

    def _terminal_status(self, sink: ReadSink, device: str, payload: bytes) -> None:
        if device not in self._known or not payload:  # an empty retained message only clears the topic
            return
        text = payload.decode("utf-8", errors="replace").strip().lower()
        state = {STATUS_ONLINE: LinkState.ONLINE, STATUS_OFFLINE: LinkState.OFFLINE}.get(text)
        if state is None:
            self.stats.error("bad_status")
            return
        if self._terminal_state.get(device) is state:
            return  # the retained message again, after a resubscribe
        self._terminal_state[device] = state
        sink.status_changed(StatusChange(device, state, f"terminal reported {text}", utcnow()))
