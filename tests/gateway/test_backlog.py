"""After an outage the backlog drains behind the live taps: a fresh tap overtakes a week's backlog."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from gateway.storage import Storage
from gateway.taps.forwarder import Forwarder
from tests.gateway.factories import draft, drafts
from tests.gateway.test_forwarder import KEY, FakeCloud

BACKLOG = 20_000  # a big school's week offline is ~100,000; this is enough for forty batches


class SlowLink:
    """A link that takes ``delay_s`` for every request, in front of the cloud; counts what was accepted."""

    def __init__(self, cloud: FakeCloud, delay_s: float) -> None:
        self.cloud = cloud
        self.delay_s = delay_s
        self.accepted: dict[str, int] = {}
        self.arrivals: list[int] = []  # seqs in the order the cloud stored them

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.delay_s)
        response = self.cloud(request)
        sent = {e["id"]: e["seq"] for e in json.loads(request.content)["events"]}
        for result in json.loads(response.content)["results"]:
            if result["status"] == "accepted":
                self.accepted[result["id"]] = self.accepted.get(result["id"], 0) + 1
                self.arrivals.append(sent[result["id"]])
        return response


async def test_a_tap_during_the_drain_overtakes_the_backlog_and_everything_arrives_once(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "g.db")
    outbox = await storage.open()
    for _ in range(0, BACKLOG, 2000):  # a week offline: recorded before the forwarder starts
        await storage.call(lambda o: o.record(drafts(2000)))
    link = SlowLink(FakeCloud(), delay_s=0.05)
    forwarder = Forwarder(
        storage=storage,
        gateway_id="gw1",
        key=KEY,
        base_url="http://cloud",
        transport=httpx.MockTransport(link),
        retry_initial_s=0.001,
        retry_max_s=0.01,
        idle_poll_s=0.01,
    )
    task = asyncio.create_task(forwarder.run())
    while len(link.accepted) < 1000:  # the drain is under way
        await asyncio.sleep(0.01)

    (live,) = await storage.call(lambda o: o.record([draft("in-1")]))
    forwarder.wake()
    while live.event.id not in link.accepted:
        await asyncio.sleep(0.005)
    assert len(link.accepted) < BACKLOG  # it reached the cloud while the backlog was still draining

    while outbox.counts().pending:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await storage.close()

    assert len(link.cloud.events) == BACKLOG + 1 and live.event.id in link.cloud.events
    assert all(n == 1 for n in link.accepted.values()) and len(link.accepted) == BACKLOG + 1
    # The cloud got the seqs out of order (the live tap before older ones) and took them all.
    assert link.arrivals.index(live.seq) < link.arrivals.index(BACKLOG)
    assert sorted(link.arrivals) == list(range(1, BACKLOG + 2))
