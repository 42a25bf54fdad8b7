"""The benchmark runs end to end on small sizes and prints every figure (no timing asserted)."""

from __future__ import annotations

from mektep.bench import bench_gateway


def test_bench_gateway_produces_every_figure() -> None:
    figures = bench_gateway(taps=20, saturation=500, drain=500)
    assert set(figures) == {
        "grant_p50_ms", "grant_p99_ms", "taps_per_s", "peer_taps_per_s", "limit_taps_per_s", "drain_events_per_s",
    }  # fmt: skip
    assert all(value > 0 for value in figures.values())
