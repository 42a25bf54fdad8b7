"""``mektep bench scale``: the cloud on one PostgreSQL server and on a Citus cluster, side by side.

Both are started by the benchmark on this machine, made the same way (``initdb``, the server's
own durability settings): a plain server, and a coordinator with two workers. The three Citus
servers share this machine's cores with each other, with the API process and with the load
generator, so the ratio here says what the distribution costs, not what three machines would gain.

- ``ingest_events_per_s_postgres`` / ``ingest_events_per_s_citus``: signed batches of 500 events
  over real HTTP from 4 gateways (4 schools) at once into a ``mektep cloud serve`` process;
- ``region_report_s_postgres`` / ``region_report_s_citus``: issuing the region report of
  ``schools`` generated schools (a month of events and its rollups, made by the database);
- ``shards_per_school_query``: how many shards Citus asks for one school's day of events (``EXPLAIN``);
- a national extrapolation, printed with its assumptions: the events/s one worker took here, and
  how many workers 5,000 events/s (the country's morning peak) needs with 3× headroom.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.reports.issue import issue_report
from mektep.citus_cluster import citus_cluster, plain_server
from mektep.ingest_bench import run_ingest_bench
from simulators.school_month import REGION, generate_postgres

__all__ = ["NATIONAL_PEAK_EVENTS_PER_S", "bench_scale", "extrapolate"]

MONTH = "2026-10"
NATIONAL_PEAK_EVENTS_PER_S = 5000  # about 3.9 million students at the doors between 07:30 and 08:30
HEADROOM = 3


def _region_report_s(url: str, schools: int, students: int) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            events = generate_postgres(conn, schools, students, MONTH)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        with engine.begin() as conn:
            started = time.perf_counter()
            issue_report(conn, REGION, MONTH, "region")
            return time.perf_counter() - started, events
    finally:
        engine.dispose()


def _shards_per_school_query(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            plan = conn.execute(
                text(
                    "EXPLAIN SELECT kind, occurred_at FROM events "
                    "WHERE school_id = 'load-1' AND local_date = DATE '2026-10-05'"
                )
            ).scalars()
            counts = [int(n) for line in plan for n in re.findall(r"Task Count: (\d+)", line)]
        return max(counts) if counts else 0
    finally:
        engine.dispose()


def extrapolate(citus_events_per_s: float, workers: int) -> dict[str, float]:
    """Events/s per worker measured, and the workers the national peak needs with headroom."""
    per_worker = citus_events_per_s / workers
    needed = math.ceil(NATIONAL_PEAK_EVENTS_PER_S * HEADROOM / per_worker) if per_worker else 0
    return {"events_per_s_per_worker": round(per_worker, 1), "workers_for_national_peak": needed}


def bench_scale(
    *, batches: int = 20, schools: int = 50, students: int = 300, root: Path | None = None
) -> dict[str, Any]:
    """Run every measurement once on a fresh server and a fresh cluster; the figures."""
    figures: dict[str, Any] = {}
    with plain_server(durable=True, root=root) as server:
        upgrade(server.url)
        rate = run_ingest_bench(server.url, batches=batches, batch_size=500, clients=4)
        figures["ingest_events_per_s_postgres"] = round(rate.events_per_second)
        seconds, events = _region_report_s(server.url, schools, students)
        figures["region_report_s_postgres"] = round(seconds, 3)
    with citus_cluster(workers=2, durable=True, root=root) as cluster:
        upgrade(cluster.url)
        rate = run_ingest_bench(cluster.url, batches=batches, batch_size=500, clients=4)
        figures["ingest_events_per_s_citus"] = round(rate.events_per_second)
        seconds, _ = _region_report_s(cluster.url, schools, students)
        figures["region_report_s_citus"] = round(seconds, 3)
        figures["shards_per_school_query"] = _shards_per_school_query(cluster.url)
        figures["citus_workers"] = len(cluster.workers)
    figures["region_schools"] = schools
    figures["region_events"] = events
    figures |= extrapolate(figures["ingest_events_per_s_citus"], figures["citus_workers"])
    return figures


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench_scale(batches=4, schools=4, students=50)))
