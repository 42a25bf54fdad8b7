"""``mektep bench readers``: card → grant LED on OSDP readers, eight on one bus against one alone.

The path measured is a school's: libosdp readers (``PeripheralDevice``) on a pty bus that holds
the wire as 115200 baud would, the OSDP driver (libosdp ``ControlPanel``), the real
:class:`~gateway.taps.pipeline.Pipeline` deciding with ``NoRosterPolicy`` and recording each event
durably in a temporary SQLite outbox before it answers, then the LED, output and buzzer
commands back through the driver. The clock starts when the reader has the card and stops when
the reader is told to light green.

Load. Each reader gets its next card a random 0 to 2 × ``interval_s`` after its previous answer
(0.4 s on average by default: eight readers then take about 18 cards a second, several times a
school's busiest morning on one bus). Random, not right after the answer: libosdp polls each
reader every 50 ms, so a card's wait for the next poll depends on its phase, and a phase locked to
the poll would flatter or punish the figure. The one-reader baseline takes cards at the same rate
for the whole bus (``interval_s / readers``), so the only difference between the runs is that
eight readers share the bus and its polls.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from device_drivers.base import Direction
from device_drivers.osdp.driver import OsdpConfig, OsdpDriver, OsdpReader
from gateway.storage import Storage
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, NoRosterPolicy, Place
from simulators.osdp_readers import OsdpReadersSim, SimReader

__all__ = ["bench_readers", "grant_latencies"]

BAUD = 115200
ANSWER_TIMEOUT_S = 5.0


def _taps(reader: SimReader, count: int, interval_s: float, rng: random.Random, latencies: list[float]) -> int:
    """Present ``count`` cards at ``reader``; append each card → green LED time (ms); return misses.

    A thread per reader, blocked on the simulator's condition between taps: a coroutine polling
    for the LED would keep the GIL busy and slow down the very threads being measured.
    """
    missed = 0
    for _ in range(count):
        time.sleep(rng.uniform(0, 2 * interval_s))
        seen = reader.leds_seen
        tapped = reader.present(rng.getrandbits(26), 26)
        led = reader.led if reader.wait(lambda r, seen=seen: r.leds_seen > seen, ANSWER_TIMEOUT_S) else None
        if led is None or led.colour != "green":
            missed += 1
            continue
        latencies.append((led.at - tapped) * 1000)
    return missed


def _all_taps(readers: Sequence[SimReader], reads: int, interval_s: float, seed: int) -> tuple[list[float], int]:
    rng = random.Random(seed)
    shares = [reads // len(readers) + (1 if i < reads % len(readers) else 0) for i in range(len(readers))]
    latencies: list[float] = []
    with ThreadPoolExecutor(len(readers), thread_name_prefix="tap") as pool:
        futures = [
            pool.submit(_taps, r, n, interval_s, random.Random(rng.random()), latencies)
            for r, n in zip(readers, shares, strict=True)
        ]
        return latencies, sum(f.result() for f in futures)


async def grant_latencies(
    workdir: Path, readers: int, reads: int, interval_s: float, seed: int = 0
) -> tuple[list[float], int]:
    """Card → grant LED latencies (ms) for ``reads`` cards spread over ``readers`` readers, and the misses."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)  # a gateway refuses a database others may read
    keys = [bytes([i + 1]) * 16 for i in range(readers)]  # a key per reader, as in a school
    sim = OsdpReadersSim.with_keys(workdir / "ttyOSDP", keys, baud=BAUD)
    ids = [f"gate-{i + 1}" for i in range(readers)]
    driver = OsdpDriver(
        OsdpConfig("bus-bench", str(sim.link), tuple(OsdpReader(ids[i], i + 1, keys[i]) for i in range(readers)), BAUD)
    )
    storage = Storage(workdir / "gateway.db")
    await storage.open()
    pipeline = Pipeline(
        school_id="bench",
        gateway_id="gw-bench",
        credential_key=b"k",
        storage=storage,
        policy=NoRosterPolicy(),
        feedback=driver.feedback,
        points={i: AccessPoint(i, Place.TURNSTILE, Direction.ENTRY) for i in ids},
    )
    tasks = [asyncio.create_task(pipeline.run()), asyncio.create_task(driver.run(pipeline))]
    try:
        deadline = time.monotonic() + 30
        while not all(r.secure for r in sim.readers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the readers did not come online within 30 s")
            await asyncio.sleep(0.01)
        latencies, missed = await asyncio.to_thread(_all_taps, list(sim.readers.values()), reads, interval_s, seed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await storage.close()
        sim.close()
    return latencies, missed


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def bench_readers(reads: int = 1000, readers: int = 8, interval_s: float = 0.4, seed: int = 0) -> dict[str, float]:
    """Eight readers on one bus, then one alone at the same cards per second, ``reads`` cards each run."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-readers-") as tmp:
        many, missed_many = asyncio.run(grant_latencies(Path(tmp) / "many", readers, reads, interval_s, seed))
        single, missed_single = asyncio.run(grant_latencies(Path(tmp) / "one", 1, reads, interval_s / readers, seed))
    figures = {
        "osdp_grant_p50_ms": statistics.median(many) if many else float("nan"),
        "osdp_grant_p99_ms": _percentile(many, 0.99),
        "osdp_single_p50_ms": statistics.median(single) if single else float("nan"),
        "osdp_single_p99_ms": _percentile(single, 0.99),
        "osdp_missed": float(missed_many + missed_single),
    }
    return {k: round(v, 2) for k, v in figures.items()}
