"""A signed heartbeat to the cloud every interval, and at once when what is wrong changes.

``POST /v1/gateways/{gateway_id}/heartbeat`` with a :class:`shared.contract.Heartbeat`, signed with
the gateway's key exactly as an ingest batch (:func:`shared.contract.signed_headers`). A heartbeat
is not an event: it never enters the outbox, and a failed one is logged, counted and forgotten
(the next one says the same, newer); the cloud may be offline for weeks. The answer's
``received_at`` measures the clock's offset (:class:`gateway.health.ClockOffset`).

The figures are sampled every ``check_s`` (a few seconds: psutil and one query of the outbox); a
change of their :func:`shared.contract.troubles` (a reader going offline, the disk passing the
cloud's limit, …) is sent then and there, so that an alert waits for its rule's window and not for
the next minute's heartbeat as well.
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
from shared.contract import Heartbeat, HeartbeatAnswer, heartbeat_path, signed_headers, troubles

__all__ = ["CHECK_S", "HeartbeatSender", "HeartbeatStats", "heartbeat_of"]

CHECK_S = 5.0  # how often the figures are sampled for a change worth telling at once

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
    """Sends ``figures()`` every ``interval_s``, and when its troubles change (checked every ``check_s``),
    through an injectable httpx transport."""

    def __init__(
        self,
        *,
        gateway_id: str,
        key: bytes,
        base_url: str,
        figures: Callable[[], Awaitable[HealthFigures]],
        clock: ClockOffset,
        interval_s: float = 60.0,
        check_s: float = CHECK_S,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self._key = key
        self._base_url = base_url.rstrip("/")
        self._figures = figures
        self._clock = clock
        self._interval_s = interval_s
        self._check_s = min(check_s, interval_s)
        self._told: frozenset[str] | None = None  # the troubles of the last heartbeat sent
        self._timeout_s = timeout_s
        self._transport = transport
        self.stats = HeartbeatStats()

    async def run(self) -> None:
        """Send one now, then every interval or on a change of troubles, until cancelled."""
        async with httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=self._timeout_s
        ) as client:
            last: float | None = None
            while True:
                started = time.monotonic()
                try:
                    beat = heartbeat_of(self._gateway_id, await self._figures())
                    if last is None or started - last >= self._interval_s or troubles(beat) != self._told:
                        last = started
                        await self.send(client, beat)
                except Exception as exc:  # a heartbeat must never stop the gateway
                    log.exception("heartbeat failed unexpectedly")
                    self._failed(f"unexpected: {exc!r}")
                await asyncio.sleep(max(0.0, self._check_s - (time.monotonic() - started)))

    async def send(self, client: httpx.AsyncClient, beat: Heartbeat | None = None) -> bool:
        """Send one heartbeat (``beat``, or the figures now); True when the cloud took it."""
        if beat is None:
            beat = heartbeat_of(self._gateway_id, await self._figures())
        # Told or not, the next change is what differs from this: a cloud that is away is not
        # asked again every few seconds, only at the interval.
        self._told = troubles(beat)
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
