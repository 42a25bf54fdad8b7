"""What one API process shows of its health at scrape time: host, process, database, queues.

A Prometheus collector made per app (it needs the app's engine), added to ``/metrics`` beside the
process-wide counters of :mod:`cloud_api.core.metrics`:

    mektep_cloud_cpu_ratio                        host CPU use since the last scrape, 0..1
    mektep_cloud_memory_used_bytes / _total_bytes host memory
    mektep_cloud_process_resident_bytes           this process's resident memory
    mektep_cloud_process_open_fds                 this process's open file descriptors
    mektep_cloud_disk_free_bytes / _free_ratio    free space of the SQLite database's directory
                                                  (absent on PostgreSQL: its host is watched there)
    mektep_cloud_database_up                      1 when ``SELECT 1`` answered within the timeout
    mektep_cloud_queue_pending{queue}             rows waiting: push, wallet, reports, webhooks
    mektep_cloud_queue_oldest_age_seconds{queue}  age of the oldest waiting row (0: none waits)

The database is asked on a thread of its own, with a timeout: a database that hangs makes the
scrape say ``database_up 0`` at once, never makes the scrape hang. The queues' figures come from
one indexed query each (``push_queue_due``, ``wallet_outbox_pending``, ``report_deliveries_due``,
``webhook_deliveries_subscription``). The webhooks' are those of active subscriptions (a paused one
is shown in the office), and their oldest is of the subscriptions not failing: a receiver that is
down is its owner's outage, seen in the office; a queue that does not move while its receivers
answer is the deployment's.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, case, func, select, text
from sqlalchemy.engine import make_url

from cloud_api.db.schema import (
    push_queue,
    report_deliveries,
    reports,
    wallet_outbox,
    webhook_deliveries,
    webhook_subscriptions,
)

__all__ = ["CloudHealthCollector", "QueueFigures", "queue_figures"]

PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One delivery queue: how many rows wait and since when the oldest does."""

    queue: str
    pending: int
    oldest: datetime | None


def _aware(at: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC through some aggregate paths.
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def queue_figures(conn: Connection) -> list[QueueFigures]:
    """The push notices, Social Wallet records, report deliveries and webhooks that wait, one query each."""
    push = conn.execute(
        select(func.count(), func.min(push_queue.c.due_at)).where(push_queue.c.state == "pending")
    ).one()
    wallet = conn.execute(
        select(func.count(), func.min(wallet_outbox.c.created_at)).where(wallet_outbox.c.status == "pending")
    ).one()
    # A delivery has no time of its own: its report version's is when it started waiting.
    d, r = report_deliveries, reports
    deliveries = conn.execute(
        select(func.count(), func.min(r.c.created_at))
        .select_from(
            d.join(
                r,
                (r.c.subject == d.c.subject)
                & (r.c.month == d.c.month)
                & (r.c.kind == d.c.kind)
                & (r.c.version == d.c.version),
            )
        )
        .where(d.c.state == "pending")
    ).one()
    w, s = webhook_deliveries, webhook_subscriptions
    webhooks = conn.execute(
        select(func.count(), func.min(case((s.c.failures == 0, w.c.created_at))))
        .select_from(w.join(s, (s.c.school_id == w.c.school_id) & (s.c.id == w.c.subscription_id)))
        .where(w.c.state == "pending", s.c.state == "active")
    ).one()
    return [
        QueueFigures(name, int(count), _aware(oldest))
        for name, (count, oldest) in (
            ("push", push),
            ("wallet", wallet),
            ("reports", deliveries),
            ("webhooks", webhooks),
        )
    ]


def _probe(engine: Engine) -> list[QueueFigures]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return queue_figures(conn)


class CloudHealthCollector(Collector):
    """The figures above, for one app's engine; registered in a registry of the app's own."""

    def __init__(self, engine: Engine, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._engine = engine
        self._timeout_s = timeout_s
        url = make_url(engine.url)
        database = url.database if url.get_backend_name() == "sqlite" else None
        self._disk = Path(database).resolve().parent if database and database != ":memory:" else None
        # One thread: a probe still hanging on a dead database is not joined by another each scrape.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-probe")
        self._pending: concurrent.futures.Future[list[QueueFigures]] | None = None
        self._process = psutil.Process(os.getpid())

    def _database(self) -> list[QueueFigures] | None:
        if self._pending is None or self._pending.done():
            self._pending = self._executor.submit(_probe, self._engine)
        try:
            return self._pending.result(timeout=self._timeout_s)
        except Exception:  # timeout, or the database's own error: it is down, as far as a scrape can tell
            return None

    def collect(self) -> Iterator[Metric]:
        """One scrape's figures."""
        memory = psutil.virtual_memory()
        yield GaugeMetricFamily(
            "mektep_cloud_cpu_ratio", "Host CPU use since the last scrape, 0..1", value=psutil.cpu_percent() / 100.0
        )
        yield GaugeMetricFamily(
            "mektep_cloud_memory_used_bytes", "Host memory in use", value=memory.total - memory.available
        )
        yield GaugeMetricFamily("mektep_cloud_memory_total_bytes", "Host memory", value=memory.total)
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            fds = self._process.num_fds() if hasattr(self._process, "num_fds") else 0
        yield GaugeMetricFamily("mektep_cloud_process_resident_bytes", "This API process's resident memory", value=rss)
        yield GaugeMetricFamily("mektep_cloud_process_open_fds", "This API process's open file descriptors", value=fds)
        if self._disk is not None and self._disk.exists():
            disk = psutil.disk_usage(str(self._disk))
            yield GaugeMetricFamily(
                "mektep_cloud_disk_free_bytes", "Free space of the SQLite database's directory", value=disk.free
            )
            yield GaugeMetricFamily(
                "mektep_cloud_disk_free_ratio",
                "Free share of the SQLite database's filesystem, 0..1",
                value=disk.free / disk.total if disk.total else 0.0,
            )
        queues = self._database()
        yield GaugeMetricFamily(
            "mektep_cloud_database_up", "1 when the database answered SELECT 1 in time", value=int(queues is not None)
        )
        if queues is None:
            return
        now = datetime.now(UTC)
        pending = GaugeMetricFamily("mektep_cloud_queue_pending", "Rows waiting in a delivery queue", labels=["queue"])
        age = GaugeMetricFamily(
            "mektep_cloud_queue_oldest_age_seconds",
            "Age of the oldest row waiting in a delivery queue (0 when none waits)",
            labels=["queue"],
        )
        for q in queues:
            pending.add_metric([q.queue], q.pending)
            age.add_metric([q.queue], max(0.0, (now - q.oldest).total_seconds()) if q.oldest is not None else 0.0)
        yield pending
        yield age

    def close(self) -> None:
        """Stop the probe's thread (without waiting for a probe that hangs)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
