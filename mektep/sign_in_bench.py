"""``mektep bench sign-in``: a flood of wrong passwords against a real ``mektep cloud serve``.

200 sign-in attempts with wrong passwords over 200 logins, 40 at a time, each from an address of its
own (``X-Forwarded-For``, which the server trusts from 127.0.0.1 as it would from its load balancer):
a botnet, so that the per-address throttle does not stop the flood and every attempt costs a hash.
Meanwhile a probe reads ``/healthz`` every 50 ms and the server's resident memory is sampled as
often. The same flood runs first against a server allowed as many hashes at once as requests in
flight (what the cloud did before the bound), the baseline of the same run.

Figures: ``sign_ins_per_s``, ``server_rss_growth_mib`` (the peak during the flood over the idle
figure), ``healthz_p95_ms_during``, ``healthz_p95_ms_idle``, and the baseline's ``baseline_*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from mektep.processes import CloudProcess
from mektep.timing import p95

__all__ = ["bench_sign_in"]

PROBE_EVERY_S = 0.05


class _Probe(threading.Thread):
    """Reads /healthz and the server's RSS every 50 ms until stopped."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.process = psutil.Process(pid)
        self.latencies_ms: list[float] = []
        self.rss: list[int] = []
        self._done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._done.is_set():
                started = time.perf_counter()
                # A probe that timed out counts with the time it waited.
                with contextlib.suppress(httpx.HTTPError):
                    client.get(self.url + "/healthz")
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.rss.append(self.process.memory_info().rss)
                self._done.wait(max(0.0, PROBE_EVERY_S - (time.perf_counter() - started)))

    def stop(self) -> None:
        self._done.set()
        self.join()


async def _flood(url: str, attempts: int, concurrency: int) -> tuple[float, dict[int, int]]:
    gate = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}

    async def attempt(client: httpx.AsyncClient, i: int) -> None:
        async with gate:
            forwarded = f"198.51.{100 + i // 250}.{i % 250 + 1}"
            r = await client.post(
                url + "/v1/auth/sign-in",
                json={"login": f"parent{i}@mail.kz", "password": f"wrong password {i}"},
                headers={"X-Forwarded-For": forwarded},
            )
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(attempt(client, i) for i in range(attempts)))
        return time.perf_counter() - started, statuses


def _one_server(workdir: Path, attempts: int, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
    cloud = CloudProcess(workdir)
    cloud.env.update(env)
    cloud.start_and_wait()
    try:
        assert cloud.proc is not None
        idle = _Probe(cloud.url, cloud.proc.pid)
        idle.start()
        time.sleep(3.0)
        idle.stop()
        during = _Probe(cloud.url, cloud.proc.pid)
        during.start()
        took, statuses = asyncio.run(_flood(cloud.url, attempts, concurrency))
        during.stop()
        idle_rss = statistics.median(idle.rss)
        return {
            "sign_ins_per_s": attempts / took,
            "server_rss_growth_mib": max(0, max(during.rss) - idle_rss) / 2**20,
            "healthz_p95_ms_during": p95(during.latencies_ms),
            "healthz_p95_ms_idle": p95(idle.latencies_ms),
            "answers": statuses,
        }
    finally:
        cloud.stop()


def bench_sign_in(attempts: int = 200, concurrency: int = 40, baseline: bool = True) -> dict[str, Any]:
    """Flood a bounded server (and, first, an unbounded one as the baseline); the figures above."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mektep-bench-sign-in-") as tmp:
        if baseline:
            # As many hashes at once as requests in flight: the cloud before the bound.
            unbounded = {
                "MEKTEP_CLOUD_PASSWORD_HASH_SLOTS": str(concurrency),
                "MEKTEP_CLOUD_SIGN_IN_MAX_WAITING": str(attempts),
            }
            before = _one_server(Path(tmp) / "baseline", attempts, concurrency, unbounded)
            figures.update({f"baseline_{k}": v for k, v in before.items()})
        figures.update(_one_server(Path(tmp) / "bounded", attempts, concurrency, {}))
    return figures
