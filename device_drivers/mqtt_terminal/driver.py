"""Canteen terminals over MQTT: one paho-mqtt client for every terminal of the school.

paho runs its own network thread (``loop_start``) and reconnects by itself; messages are handed to
the asyncio loop with ``call_soon_threadsafe``. The session is persistent (fixed client id,
``clean_session=False``) so QoS 1 taps published while the gateway was away are delivered when it
comes back; a tap redelivered after a broker restart carries the same ``tap_id``, which the
gateway's outbox recognises.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_drivers.base import CardRead, Feedback, LinkDriver, LinkLost, ReadSink, utcnow
from device_drivers.mqtt_terminal.codec import Tap, TapError, encode_feedback, parse_tap, topic

__all__ = ["MqttTerminalConfig", "MqttTerminalDriver"]


@dataclass(frozen=True, slots=True)
class MqttTerminalConfig:
    """The broker, and which terminals this gateway serves."""

    school_id: str
    gateway_id: str
    terminal_ids: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive_s: int = 30


class MqttTerminalDriver(LinkDriver):
    """Taps in, feedback out, over one persistent MQTT session."""

    def __init__(self, config: MqttTerminalConfig) -> None:
        super().__init__()
        self.config = config
        self.link_id = f"{config.gateway_id}-mqtt"
        self.reader_ids = config.terminal_ids
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: ReadSink | None = None
        self._status_topic = topic(config.school_id, f"gateway-{config.gateway_id}", "status")

    async def open(self) -> None:
        """Create the client; connection (and reconnection) happens on paho's thread."""
        self._loop = asyncio.get_running_loop()
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id or f"{self.config.gateway_id}-gateway",
            clean_session=False,
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        client.will_set(self._status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        client.loop_start()

    async def read(self, sink: ReadSink) -> None:
        """Messages arrive through callbacks; this only keeps the link's task alive."""
        self._sink = sink
        await asyncio.Event().wait()
        raise LinkLost("unreachable")

    async def close(self) -> None:
        """Say "offline", disconnect and stop paho's thread."""
        client, self._client = self._client, None
        if client is not None:
            if client.is_connected():
                client.publish(self._status_topic, "offline", qos=1, retain=True)
            client.disconnect()
            client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self._call(self._link_changed, False, f"connect refused: {reason}")
            return
        # Subscribing again on every connect is harmless with a persistent session and needed without.
        client.subscribe(topic(self.config.school_id, "+", "tap"), qos=1)
        client.publish(self._status_topic, "online", qos=1, retain=True)
        self._call(self._link_changed, True, "broker connected")

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self._call(self._link_changed, False, f"broker disconnected: {reason}")

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self._call(self._handle, message.topic, bytes(message.payload))

    def _call(self, fn: object, *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)  # type: ignore[arg-type]

    def _link_changed(self, online: bool, detail: str) -> None:
        if self._sink is not None:
            self._set_online(self._sink, online, detail)

    def _handle(self, message_topic: str, payload: bytes) -> None:
        parts = message_topic.split("/")
        device = parts[2] if len(parts) == 4 else ""
        if device not in self.reader_ids:
            self.stats.error("unknown_terminal")
            return
        tap = parse_tap(payload)
        if isinstance(tap, TapError):
            self.stats.error(tap.code.split(":")[0])
            self._publish(device, encode_feedback(tap.tap_id, ok=False, granted=False, reason=tap.code, display=""))
            return
        assert isinstance(tap, Tap)
        self.stats.reads += 1
        if self._sink is not None:
            self._sink.card_read(CardRead(device, tap.credential, tap.kind, utcnow(), ref=tap.tap_id))

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Publish the answer to the terminal's feedback topic (QoS 1; paho queues it if offline)."""
        payload = encode_feedback(
            feedback.ref, ok=True, granted=feedback.granted, reason=feedback.reason, display=feedback.display
        )
        self._publish(reader_id, payload)
        self.stats.feedback_sent += 1

    def _publish(self, device: str, payload: bytes) -> None:
        if self._client is None:
            self.stats.error("feedback_dropped")
            return
        self._client.publish(topic(self.config.school_id, device, "feedback"), payload, qos=1)
