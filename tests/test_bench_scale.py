"""The scale benchmark runs end to end on small sizes: one PostgreSQL server against a Citus cluster it starts.

A file of its own: two minutes of one test, which the runner can then place beside the others'
files (it hands out whole files) instead of after the rest of the benchmarks'.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mektep.cli import app


# It starts a Citus cluster of its own: on a worker beside another one's tests, past the default two minutes.
@pytest.mark.timeout(360)
def test_bench_scale_runs_on_one_server_and_on_a_cluster() -> None:
    import json

    from mektep.citus_cluster import citus_missing
    from tests.conftest import need

    need(citus_missing() is None, str(citus_missing()))
    result = CliRunner().invoke(
        app, ["bench", "scale", "--json", "--batches", "2", "--schools", "3", "--students", "40"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    for key in (
        "ingest_events_per_s_postgres",
        "ingest_events_per_s_citus",
        "region_report_s_postgres",
        "region_report_s_citus",
    ):
        assert figures[key] > 0, key
    assert figures["shards_per_school_query"] == 1  # one school's day: one shard of the cluster
    assert figures["region_schools"] == 3 and figures["workers_for_national_peak"] >= 1
    assert "National extrapolation" in result.output
