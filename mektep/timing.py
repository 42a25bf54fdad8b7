"""What the office and fleet benches measure a page by: its answer times, and their 95th percentile."""

from __future__ import annotations

import statistics
import time

import httpx

__all__ = ["p95", "times_ms"]


def times_ms(client: httpx.Client, path: str, asks: int) -> list[float]:
    """``GET path`` ``asks`` times in a row: each answer's time in milliseconds (any answer but 200 raises)."""
    times = []
    for _ in range(asks):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return times


def p95(values: list[float]) -> float:
    """The 95th percentile of ``values`` (the value itself when there is one)."""
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
