"""A signed heartbeat to the cloud every interval: the gateway's figures, and the cloud's clock back.

``POST /v1/gateways/{gateway_id}/heartbeat`` with a :class:`shared.contract.Heartbeat`, signed with
the gateway's key exactly as an ingest batch (:func:`shared.contract.signed_headers`). A heartbeat
is not an event: it never enters the outbox, and a failed one is logged, counted and forgotten
(the next one says the same, newer); the cloud may be offline for weeks. The answer's
``received_at`` measures the clock's offset (:class:`gateway.health.ClockOffset`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from gateway.health import ClockOffset, HealthFigures
from shared.contract import Heartbeat, HeartbeatAnswer, heartbeat_path, signed_headers

__all__ = ["HeartbeatSender", "HeartbeatStats", "heartbeat_of"]

log = logging.getLogger(__name__)


@dataclass
class HeartbeatStats:
    """What the page and the metrics show of the heartbeats."""

    sent: int = 0
    failed: int = 0
    last_error: str = ""
    last_sent_at: float | None = None  # time.time() of the last one the cloud took


def heartbeat_of(gateway_id: str, figures: HealthFigures) -> Heartbeat:
    """The wire form of ``figures``, stamped now."""
    host = figures.host
    return Heartbeat(
        gateway_id=gateway_id,
        sent_at=datetime.now(UTC),
        version=figures.version[:64],
        uptime_s=figures.uptime_s,
        cpu_ratio=host.cpu_ratio,
        memory_used_bytes=host.memory_used_bytes,
        memory_total_bytes=host.memory_total_bytes,
        disk_free_bytes=host.disk_free_bytes,
        disk_free_ratio=host.disk_free_ratio,
        net_sent_bytes=host.net_sent_bytes,
        net_received_bytes=host.net_received_bytes,
        links=dict(list(host.links.items())[:64]),
        parts=figures.parts,
        outbox_pending=figures.outbox_pending,
        outbox_rejected=figures.outbox_rejected,
        oldest_pending_age_s=figures.oldest_pending_age_s,
        clock_offset_s=figures.clock_offset_s,
    )


class HeartbeatSender:
    """Sends ``figures()`` every ``interval_s`` through an injectable httpx transport."""

    def __init__(
        self,
        *,
        gateway_id: str,
        key: bytes,
        base_url: str,
        figures: Callable[[], Awaitable[HealthFigures]],
        clock: ClockOffset,
        interval_s: float = 60.0,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self._key = key
        self._base_url = base_url.rstrip("/")
        self._figures = figures
        self._clock = clock
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._transport = transport
        self.stats = HeartbeatStats()

    async def run(self) -> None:
        """Send one now and then every interval, until cancelled."""
        async with httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=self._timeout_s
        ) as client:
            while True:
                started = time.monotonic()
                try:
                    await self.send(client)
                except Exception as exc:  # a heartbeat must never stop the gateway
                    log.exception("heartbeat failed unexpectedly")
                    self._failed(f"unexpected: {exc!r}")
                await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))

    async def send(self, client: httpx.AsyncClient) -> bool:
        """Send one heartbeat; True when the cloud took it."""
        beat = heartbeat_of(self._gateway_id, await self._figures())
        body = beat.model_dump_json().encode()
        path = heartbeat_path(self._gateway_id)
        sent_at = time.time()
        headers = {
            "Content-Type": "application/json",
            **signed_headers(self._key, self._gateway_id, "POST", path, body, str(int(sent_at))),
        }
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.TransportError as exc:
            return self._failed(f"cloud unreachable: {exc!r}")
        answered_at = time.time()
        if response.status_code != 200:
            return self._failed(f"cloud answered {response.status_code}: {response.text[:200]}")
        try:
            answer = HeartbeatAnswer.model_validate_json(response.content)
        except ValueError as exc:
            return self._failed(f"unreadable answer: {exc}")
        self._clock.measure(sent_at, answered_at, answer.received_at)
        self.stats.sent += 1
        self.stats.last_error = ""
        self.stats.last_sent_at = answered_at
        return True

    def _failed(self, error: str) -> bool:
        self.stats.failed += 1
        self.stats.last_error = error
        log.warning("heartbeat: %s", error)
        return False
