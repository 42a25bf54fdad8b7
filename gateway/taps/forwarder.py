"""Drain the outbox to the cloud: signed batches, per-event answers, backoff that never gives up.

Two lanes run side by side, each one batch at a time (:class:`gateway.taps.outbox.Lane`): the
live lane carries the taps recorded since the cloud last answered after a silence, woken by every
commit; the backlog lane drains what piled up before, oldest first. A tap made while a week's
backlog drains over a slow link therefore waits for one live batch at most, not for the week.
The cloud receives a gateway's seqs out of order then, and with gaps in each batch: its ingest is
idempotent on event id and assumes nothing of seq order (seq orders a day's events in its pages,
whatever their arrival). An event both lanes hold (the mark moved while a live batch was in
flight) is at worst sent twice: the cloud answers "duplicate" and settling is idempotent.

An event is marked delivered only when the cloud's answer for *that event* says accepted or
duplicate. Every batch that reached the cloud is journalled with its signature and the answer,
in the same transaction that settles its events.

What each answer means here:

    200            settle every event by its own result
    413            the batch was too big for the cloud: halve it and go again at once
    422            the cloud cannot read the batch: halve it to find the event at fault; a
                   single event it cannot read is kept as rejected (dead letter) so that it
                   does not block the queue forever
    401/403/429/5xx, network errors
                   retry the same events with exponential backoff, full jitter and a cap, for
                   as long as it takes (weeks offline is normal); re-signed each time, so a
                   retry is never mistaken for a replay
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from gateway.storage import Storage
from gateway.taps.outbox import Claimed, Lane, Outbox
from shared.contract import (
    HEADER_SIGNATURE,
    INGEST_PATH,
    BatchResult,
    EventResult,
    ResultStatus,
    signed_headers,
)

__all__ = ["Forwarder", "ForwarderStats", "TransientError"]

log = logging.getLogger(__name__)


class TransientError(Exception):
    """The cloud did not take the batch this time; the same events will be sent again."""


@dataclass
class ForwarderStats:
    """What the live view and the metrics show."""

    batches: int = 0
    delivered: int = 0
    rejected: int = 0
    failures: int = 0
    cloud_online: bool = False
    last_error: str = ""


class Forwarder:
    """Sends the outbox to the cloud through an injectable httpx transport."""

    def __init__(
        self,
        *,
        storage: Storage,
        gateway_id: str,
        key: bytes,
        base_url: str,
        batch_size: int = 500,
        timeout_s: float = 10.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 60.0,
        idle_poll_s: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._storage = storage
        self._gateway_id = gateway_id
        self._key = key
        self._base_url = base_url.rstrip("/")
        self._max_batch = batch_size
        self._batch = dict.fromkeys(Lane, batch_size)
        self._timeout_s = timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._idle_poll_s = idle_poll_s
        self._transport = transport
        self._wake = asyncio.Event()
        self.stats = ForwarderStats()

    def wake(self) -> None:
        """New events are on disk: send them now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Forward until cancelled: the live lane and the backlog lane side by side."""
        async with (
            httpx.AsyncClient(base_url=self._base_url, transport=self._transport, timeout=self._timeout_s) as client,
            asyncio.TaskGroup() as lanes,
        ):
            lanes.create_task(self._run_lane(client, Lane.LIVE), name="forward-live")
            lanes.create_task(self._run_lane(client, Lane.BACKLOG), name="forward-backlog")

    async def _run_lane(self, client: httpx.AsyncClient, lane: Lane) -> None:
        wake = self._wake if lane is Lane.LIVE else asyncio.Event()  # the backlog only grows by a mark
        while True:
            wake.clear()  # before claiming, so that a wake during the claim is kept
            claimed = await self._storage.call(lambda outbox: outbox.claim(self._batch[lane], lane))
            if not claimed:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that lands as the wake event is set, and shutdown would hang.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_poll_s):
                        await wake.wait()
                continue
            try:
                await self.deliver(client, claimed, lane)
            except Exception as exc:  # the forwarder must outlive any surprise
                log.exception("forwarding failed unexpectedly")
                self._failed(f"unexpected: {exc!r}")
                await asyncio.sleep(self._retry_max_s)

    async def deliver(self, client: httpx.AsyncClient, claimed: list[Claimed], lane: Lane = Lane.BACKLOG) -> None:
        """Send one batch until the cloud answers it (retrying transient failures forever)."""
        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=self._retry_initial_s, max=self._retry_max_s),
            retry=retry_if_exception_type(TransientError),
            before_sleep=lambda state: log.warning(
                "cloud unavailable (%s); retry %d", self.stats.last_error, state.attempt_number
            ),
        )
        async for attempt in retrying:
            with attempt:
                # A fresh body (its sent_at) per attempt: a retry is a new packet, never a replay.
                await self._attempt(client, claimed, self._body(claimed), lane)

    def _body(self, claimed: list[Claimed]) -> bytes:
        # The events are stored already serialised: splice them in rather than re-encode them.
        head = json.dumps({"gateway_id": self._gateway_id, "sent_at": datetime.now(UTC).isoformat()})
        return (head[:-1] + ', "events": [' + ",".join(c.body for c in claimed) + "]}").encode()

    async def _attempt(self, client: httpx.AsyncClient, claimed: list[Claimed], body: bytes, lane: Lane) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            **signed_headers(self._key, self._gateway_id, "POST", INGEST_PATH, body, timestamp),
        }
        packet: dict[str, Any] = {
            "sent_at": datetime.now(UTC).isoformat(),
            "url": self._base_url + INGEST_PATH,
            "timestamp": timestamp,
            "signature": headers[HEADER_SIGNATURE],
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": body,
            "first_seq": claimed[0].seq,
            "last_seq": claimed[-1].seq,
        }
        # Taps recorded from here on are made while this attempt is under way: if the cloud answers
        # it after a silence, they are live, and what came before is the backlog.
        mark = self._storage.outbox.last_seq
        try:
            response = await client.post(INGEST_PATH, content=body, headers=headers)
        except httpx.ConnectError as exc:
            # Nothing left the gateway: no journal row, or a weeks-long outage would fill the disk.
            self._failed(f"connect: {exc}")
            raise TransientError(str(exc)) from exc
        except httpx.TransportError as exc:
            self._failed(f"transport: {exc!r}")
            failed = {**packet, "error": repr(exc)}
            await self._storage.call(lambda outbox: outbox.journal(failed))
            raise TransientError(repr(exc)) from exc
        packet.update(status_code=response.status_code, response=response.text)
        status = response.status_code
        if status == 200:
            await self._settle(claimed, response, packet, lane, mark)
        elif status in (413, 422):
            await self._storage.call(lambda outbox: outbox.journal(packet))
            self._shrink(claimed, status, response.text, lane)
            if status == 422 and len(claimed) == 1:
                reason = f"unreadable: {response.text[:200]}"
                result = EventResult(id=claimed[0].id, status=ResultStatus.REJECTED, reason=reason)
                await self._storage.call(lambda outbox: outbox.settle({claimed[0].seq: result}))
                self.stats.rejected += 1
        else:
            self._failed(f"HTTP {status}: {response.text[:200]}")
            await self._storage.call(lambda outbox: outbox.journal(packet))
            raise TransientError(f"HTTP {status}")

    async def _settle(
        self, claimed: list[Claimed], response: httpx.Response, packet: dict[str, Any], lane: Lane, mark: int
    ) -> None:
        try:
            answer = BatchResult.model_validate_json(response.content)
        except ValueError as exc:
            self._failed(f"unreadable answer: {exc}")
            await self._storage.call(lambda outbox: outbox.journal(packet))
            raise TransientError("unreadable answer") from exc
        seq_of = {c.id: c.seq for c in claimed}
        # Only answers about events we sent count; an event without an answer is sent again.
        answers = {seq_of[str(r.id)]: r for r in answer.results if str(r.id) in seq_of}
        results = answers.values()
        back = not self.stats.cloud_online

        def settle(outbox: Outbox) -> None:
            outbox.settle(answers, journal=packet)
            if back:
                # The cloud is back (or this is the first answer since start): what piled up
                # before this attempt is backlog, and the taps since go ahead of it.
                outbox.mark_backlog(mark)

        await self._storage.call(settle)
        self.stats.batches += 1
        self.stats.cloud_online = True
        self.stats.last_error = ""
        self.stats.delivered += sum(r.status is not ResultStatus.REJECTED for r in results)
        self.stats.rejected += sum(r.status is ResultStatus.REJECTED for r in results)
        self._batch[lane] = min(self._max_batch, self._batch[lane] * 2)

    def _shrink(self, claimed: list[Claimed], status: int, text: str, lane: Lane) -> None:
        log.warning("cloud answered %d for a batch of %d: %s", status, len(claimed), text[:200])
        self._batch[lane] = max(1, len(claimed) // 2)

    def _failed(self, error: str) -> None:
        self.stats.failures += 1
        self.stats.cloud_online = False
        self.stats.last_error = error
