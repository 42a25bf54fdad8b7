"""The benchmark runs end to end on small sizes and prints every figure (no timing asserted)."""

from __future__ import annotations

from typer.testing import CliRunner

from mektep.bench import bench_gateway
from mektep.cli import app


def test_bench_gateway_produces_every_figure() -> None:
    figures = bench_gateway(taps=20, saturation=500, drain=500)
    assert set(figures) == {
        "grant_p50_ms", "grant_p99_ms", "taps_per_s", "peer_taps_per_s", "limit_taps_per_s", "drain_events_per_s",
    }  # fmt: skip
    assert all(value > 0 for value in figures.values())


def test_bench_ingest_measures_a_rate() -> None:
    result = CliRunner().invoke(app, ["bench", "ingest", "--batches", "2", "--batch-size", "20", "--clients", "2"])
    assert result.exit_code == 0, result.output
    assert "80 events in 4 batches from 2 gateway(s)" in result.output and "events/s" in result.output
