"""``mektep bench backlog``: live taps reaching the cloud while a week's backlog drains over a slow link.

A gateway back from an outage holds a backlog; its forwarder drains it to a real cloud process
(``mektep cloud serve`` on SQLite) over a throttled link (a round trip per request, and a
bandwidth every request shares, first come first served, as a school's uplink without QoS would).
Meanwhile live taps are recorded at a steady rate, as the pipeline records them, and each is timed
from its commit to the cloud's answer accepting it. The baseline is the same live taps over the
same link with no backlog, measured in the same run.

Figures: ``live_p50_ms`` / ``live_p95_ms`` (during the drain), ``baseline_p50_ms`` /
``baseline_p95_ms``, ``drain_events_per_s`` (backlog events the cloud accepted per second, live
taps going on), ``bytes_per_tap`` (outbox row and indexes) and ``bytes_per_delivered_tap`` (with
its share of the packet journal), and ``reserve_school_days``: the default 64 MiB disk reserve in
days of a big school (:data:`BIG_SCHOOL_TAPS_A_DAY` taps).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from uuid_utils import uuid7

from device_drivers.base import utcnow
from gateway.disk import MIB
from gateway.storage import Storage
from gateway.taps.drafts import Draft
from gateway.taps.forwarder import Forwarder
from gateway.taps.outbox import Outbox
from mektep.processes import CloudProcess
from shared.contract import CredentialKind, Decision, EventKind

__all__ = ["BIG_SCHOOL_TAPS_A_DAY", "bench_backlog"]

BIG_SCHOOL_TAPS_A_DAY = 20_000  # 3,000 pupils and staff: entry, exit, a meal or two, repeats
RESERVE_BYTES = 64 * MIB  # the site file's default storage.reserve_mib


class SlowLink(httpx.AsyncBaseTransport):
    """A real HTTP transport behind a round trip per request and a shared, serialised bandwidth."""

    def __init__(self, rtt_s: float, bytes_per_s: float) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._rtt_s = rtt_s
        self._bytes_per_s = bytes_per_s
        self._busy_until = 0.0
        self.watched: dict[str, float] = {}  # live event id → when it was recorded
        self.arrived: dict[str, float] = {}  # live event id → when the cloud's answer accepted it
        self.accepted = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        now = time.perf_counter()
        start = max(now, self._busy_until)  # the uplink sends one request's bytes at a time
        self._busy_until = start + len(body) / self._bytes_per_s
        await asyncio.sleep(self._busy_until - now + self._rtt_s)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        done = time.perf_counter()
        if response.status_code == 200:
            for result in json.loads(response.content)["results"]:
                if result["status"] == "accepted":
                    self.accepted += 1
                    if result["id"] in self.watched:
                        self.arrived[result["id"]] = done
        return response

    async def aclose(self) -> None:
        """Close the real transport."""
        await self._inner.aclose()


def _draft(kind: CredentialKind = CredentialKind.EM4100) -> Draft:
    return Draft(
        str(uuid7()),
        "bench",
        "gw-bench",
        "in-1",
        EventKind.ENTRY,
        utcnow().isoformat(),
        Decision.GRANTED,
        "on_roster",
        person_id=f"p-{secrets.token_hex(4)}",
        credential_kind=kind,
        credential_hash=secrets.token_hex(32),
    )


def _db_bytes(outbox: Outbox) -> int:
    outbox.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = int(outbox.db.execute("PRAGMA page_count").fetchone()[0])
    free = int(outbox.db.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * int(outbox.db.execute("PRAGMA page_size").fetchone()[0])


async def _run(
    workdir: Path, cloud: CloudProcess, key: str, *, backlog: int, taps: int | None, rate: float, link: SlowLink
) -> dict[str, float]:
    """Drain ``backlog`` events while tapping at ``rate`` (until the drain ends, or ``taps`` taps)."""
    storage = Storage(workdir / "gateway.db")
    outbox = await storage.open()
    empty = await storage.call(_db_bytes)
    for i in range(0, backlog, 5000):
        await storage.call(lambda o, n=min(5000, backlog - i): o.record([_draft() for _ in range(n)]))
    recorded = await storage.call(_db_bytes)
    forwarder = Forwarder(
        storage=storage,
        gateway_id="gw-bench",
        key=key.encode(),
        base_url=cloud.url,
        transport=link,
        retry_initial_s=0.1,
        retry_max_s=1.0,
    )
    task = asyncio.create_task(forwarder.run())
    start = time.perf_counter()
    drained_at = None if backlog else start
    tapped = 0
    while taps is None or tapped < taps:
        await asyncio.sleep(max(0.0, start + tapped / rate - time.perf_counter()))
        at = time.perf_counter()
        (live,) = await storage.call(lambda o: o.record([_draft()]))
        link.watched[live.event.id] = at
        forwarder.wake()  # as the pipeline does after every commit
        tapped += 1
        if drained_at is None and link.accepted - len(link.arrived) >= backlog:
            drained_at = time.perf_counter()
            if taps is None:
                break
    while outbox.counts().pending:
        await asyncio.sleep(0.01)
    if drained_at is None:
        drained_at = time.perf_counter()
    delivered = await storage.call(_db_bytes)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await storage.close()
    latencies = [(link.arrived[i] - at) * 1000 for i, at in link.watched.items() if i in link.arrived]
    figures = {
        "taps": float(len(latencies)),
        "p50_ms": statistics.median(latencies),
        "p95_ms": sorted(latencies)[min(len(latencies) - 1, int(len(latencies) * 0.95))],
    }
    if backlog:
        figures["drain_events_per_s"] = backlog / (drained_at - start)
        figures["bytes_per_tap"] = (recorded - empty) / backlog
        figures["bytes_per_delivered_tap"] = (delivered - empty) / (backlog + tapped)
    return figures


async def _bench(workdir: Path, backlog: int, rate: float, rtt_s: float, mbit_s: float) -> dict[str, float]:
    cloud = CloudProcess(workdir / "cloud")
    key = secrets.token_hex(32)
    cloud.register_gateway("gw-bench", "bench", key)
    cloud.start_and_wait()
    try:
        during_link = SlowLink(rtt_s, mbit_s * 1e6 / 8)
        during = await _run(workdir / "drain", cloud, key, backlog=backlog, taps=None, rate=rate, link=during_link)
        await during_link.aclose()
        base_link = SlowLink(rtt_s, mbit_s * 1e6 / 8)
        taps = int(during["taps"])
        baseline = await _run(workdir / "baseline", cloud, key, backlog=0, taps=taps, rate=rate, link=base_link)
        await base_link.aclose()
    finally:
        cloud.stop()
    return {
        "live_taps": during["taps"],
        "live_p50_ms": during["p50_ms"],
        "live_p95_ms": during["p95_ms"],
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p95_ms": baseline["p95_ms"],
        "drain_events_per_s": during["drain_events_per_s"],
        "bytes_per_tap": during["bytes_per_tap"],
        "bytes_per_delivered_tap": during["bytes_per_delivered_tap"],
        "reserve_school_days": RESERVE_BYTES / (during["bytes_per_delivered_tap"] * BIG_SCHOOL_TAPS_A_DAY),
    }


def bench_backlog(
    backlog: int = 50_000, rate: float = 4.0, rtt_s: float = 0.1, mbit_s: float = 8.0
) -> dict[str, float]:
    """Run the drain with live taps and the baseline once; the figures, rounded."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-backlog-") as tmp:
        work = Path(tmp)
        (work / "drain").mkdir(mode=0o700)  # a gateway refuses a database others may read
        (work / "baseline").mkdir(mode=0o700)
        figures = asyncio.run(_bench(work, backlog, rate, rtt_s, mbit_s))
    return {k: round(v, 2) for k, v in figures.items()}
