"""The forwarder: signed batches, per-event answers, backoff through outages, dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gateway.storage import Storage
from gateway.taps.forwarder import Forwarder
from shared.contract import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    INGEST_PATH,
    Batch,
    verify,
)
from tests.gateway.factories import drafts

KEY = b"secret"


class FakeCloud:
    """Checks signatures like the cloud, keeps events by id, can be told to fail."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.failures: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self.requests = 0
        self.signatures: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failures:
            answer = self.failures.pop(0)(request)
            if answer is not None:
                return answer
        sig = request.headers[HEADER_SIGNATURE]
        assert verify(KEY, "POST", INGEST_PATH, request.headers[HEADER_TIMESTAMP], request.content, sig)
        assert sig not in self.signatures, "a retry must be re-signed"
        self.signatures.add(sig)
        batch = Batch.model_validate_json(request.content)
        results = []
        for event in batch.events:
            status = "duplicate" if str(event.id) in self.events else "accepted"
            if event.device_id == "poison":
                status = "rejected"
            else:
                self.events[str(event.id)] = event.model_dump(mode="json")
            results.append({"id": str(event.id), "status": status, "reason": "no" if status == "rejected" else None})
        answer = {"batch_id": 1, "received_at": datetime.now(UTC).isoformat(), "results": results}
        return httpx.Response(200, json=answer)


def refused(_: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")


async def run_until_drained(storage: Storage, cloud: FakeCloud, **kw: Any) -> Forwarder:
    forwarder = Forwarder(
        storage=storage,
        gateway_id="gw1",
        key=KEY,
        base_url="http://cloud",
        transport=httpx.MockTransport(cloud),
        retry_initial_s=0.001,
        retry_max_s=0.01,
        idle_poll_s=0.01,
        **kw,
    )
    task = asyncio.create_task(forwarder.run())
    for _ in range(2000):
        if storage.outbox.counts().pending == 0:
            break
        await asyncio.sleep(0.005)
    task.cancel()
    return forwarder


async def open_storage(tmp_path: Path) -> Storage:
    storage = Storage(tmp_path / "g.db")
    await storage.open()
    return storage


async def test_delivers_in_seq_order_through_an_outage(tmp_path: Path) -> None:
    storage = await open_storage(tmp_path)
    recs = await storage.call(lambda o: o.record(drafts(25)))
    cloud = FakeCloud()
    cloud.failures = [refused, refused, lambda r: httpx.Response(503), lambda r: httpx.Response(401)]
    forwarder = await run_until_drained(storage, cloud, batch_size=10)
    assert list(cloud.events) == [str(r.event.id) for r in recs]
    assert [e["seq"] for e in cloud.events.values()] == list(range(1, 26))
    assert storage.outbox.counts().delivered == 25
    assert forwarder.stats.failures == 4 and forwarder.stats.cloud_online
    # refused connections leave no journal row; answered requests do, with their signature
    rows = await storage.call(lambda o: o.db.execute("SELECT status_code, signature FROM packets").fetchall())
    assert [r[0] for r in rows] == [503, 401, 200, 200, 200]
    assert all(len(r[1]) == 64 for r in rows)
    await storage.close()


async def test_lost_answer_is_resent_and_counted_once(tmp_path: Path) -> None:
    storage = await open_storage(tmp_path)
    await storage.call(lambda o: o.record(drafts(3)))
    cloud = FakeCloud()

    def store_then_lose_answer(request: httpx.Request) -> httpx.Response:
        cloud.failures.insert(0, lambda r: None)  # let the real handler run once...
        cloud(request)
        raise httpx.ReadTimeout("answer lost")  # ...but the gateway never hears of it

    cloud.failures = [store_then_lose_answer]
    await run_until_drained(storage, cloud)
    assert len(cloud.events) == 3
    assert storage.outbox.counts().delivered == 3  # the second try said "duplicate": delivered
    await storage.close()


async def test_rejected_and_unreadable_events_do_not_block_the_queue(tmp_path: Path) -> None:
    storage = await open_storage(tmp_path)
    await storage.call(lambda o: o.record(drafts(4) + drafts(1, "poison") + drafts(3)))
    cloud = FakeCloud()
    bad_seq = 7

    def unreadable_if_contains_seq(request: httpx.Request) -> httpx.Response | None:
        cloud.failures.insert(0, unreadable_if_contains_seq)
        seqs = [e["seq"] for e in json.loads(request.content)["events"]]
        return httpx.Response(422, json={"detail": "events.0.reason"}) if bad_seq in seqs else None

    cloud.failures = [lambda r: httpx.Response(413), unreadable_if_contains_seq]
    forwarder = await run_until_drained(storage, cloud)
    counts = storage.outbox.counts()
    assert (counts.delivered, counts.rejected, counts.pending) == (6, 2, 0)
    assert forwarder.stats.rejected == 2
    reasons = await storage.call(
        lambda o: o.db.execute("SELECT seq, settle_reason FROM events WHERE state = 2 ORDER BY seq").fetchall()
    )
    assert reasons[0] == (5, "no") and reasons[1][0] == 7 and reasons[1][1].startswith("unreadable")
    await storage.close()
