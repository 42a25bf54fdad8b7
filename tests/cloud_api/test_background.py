"""One way to work in the background: the leased queue, the supervisor and the cron worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, insert, select

from cloud_api.background.cron import CronJob, CronWorker
from cloud_api.background.queue import PENDING
from cloud_api.background.supervisor import Supervisor
from cloud_api.db.schema import push_queue
from cloud_api.push.queue import QUEUE
from shared.localtime import LOCAL_TZ

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def queued(engine: Engine, n: int) -> None:
    rows = [
        {
            "school_id": "s1",
            "event_id": UUID(f"0192f3c4-5e6a-7b8c-9d0e-{i:012d}"),
            "person_id": UUID("0192f3c4-0000-7000-8000-000000000001"),
            "kind": "entry",
            "occurred_at": NOW,
            "state": PENDING,
            "attempts": 0,
            "due_at": NOW,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(push_queue), rows)


def states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(push_queue.c.id, push_queue.c.state)).all())


def test_a_claimed_row_is_nobody_elses_until_its_lease_runs_out_and_settles_once(engine: Engine) -> None:
    queued(engine, 3)
    a, b, c = sorted(states(engine))  # ids go on counting across tests: these are the three
    with engine.begin() as conn:
        first = QUEUE.claim(conn, now=NOW, limit=2, lease=LEASE)
        again = QUEUE.claim(conn, now=NOW + timedelta(seconds=1), limit=5, lease=LEASE)
    assert [r.id for r in first] == [a, b] and [r.id for r in again] == [c]  # first in, first claimed
    with engine.begin() as conn:
        assert QUEUE.claim(conn, now=NOW + timedelta(minutes=1), limit=5, lease=LEASE) == []
        QUEUE.release(conn, [(b,)], retry_at=NOW + timedelta(minutes=10))  # a busy receiver: not before then
        later = QUEUE.claim(conn, now=NOW + timedelta(minutes=3), limit=5, lease=LEASE)
    assert [r.id for r in later] == [a, c]  # a worker that died holding a and c: their leases ran out
    with engine.begin() as conn:
        assert QUEUE.settle(conn, [(a,), (c,)], "sent") == 2
        assert QUEUE.settle(conn, [(a,)], "skipped") == 0  # settled once: a late worker changes nothing
        assert [r.id for r in QUEUE.claim(conn, now=NOW + timedelta(minutes=11), limit=5, lease=LEASE)] == [b]
    assert states(engine) == {a: "sent", b: PENDING, c: "sent"}


@pytest.mark.postgres
def test_two_processes_claim_side_by_side_without_waiting_or_sharing(postgres_url: str) -> None:
    from cloud_api.db.engine import make_engine
    from cloud_api.db.migrate import upgrade
    from tests.cloud_api.conftest import _truncate

    upgrade(postgres_url)
    _truncate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        queued(engine, 6)
        # One process's claim is still in its transaction when the other's comes: the second
        # skips the locked rows instead of waiting for them, and never takes the same ones.
        with engine.connect() as one, engine.connect() as two, one.begin():
            mine = QUEUE.claim(one, now=NOW, limit=4, lease=LEASE)
            with two.begin():
                theirs = QUEUE.claim(two, now=NOW, limit=4, lease=LEASE)
        ids = sorted(states(engine))
        assert [r.id for r in mine] == ids[:4] and [r.id for r in theirs] == ids[4:]
    finally:
        _truncate(postgres_url)
        engine.dispose()


class Flaky:
    """A worker whose second round fails; it counts its rounds."""

    name = "flaky"
    interval_s = 60.0

    def __init__(self) -> None:
        self.rounds = 0
        self.closed = False
        self.woken = asyncio.Event()

    async def round(self) -> bool:
        self.rounds += 1
        if self.rounds == 2:
            raise RuntimeError("the database went away for a moment")
        if self.rounds >= 3:
            self.woken.set()
        return False

    async def aclose(self) -> None:
        self.closed = True


async def test_a_worker_that_fails_a_round_goes_on_and_a_wake_runs_it_before_its_interval() -> None:
    supervisor, worker = Supervisor(failure_pause_s=0.01), Flaky()
    supervisor.start(worker)
    await asyncio.sleep(0.05)  # the first round ran; the next would be in a minute
    assert worker.rounds == 1
    supervisor.wake("flaky")  # ingest committed work: round 2 now (it fails), then round 3 after the pause
    await asyncio.wait_for(worker.woken.wait(), 5)
    assert supervisor.failures["flaky"] == 1 and worker.rounds == 3
    await supervisor.stop()
    assert worker.closed and supervisor.names == []


async def test_the_report_jobs_run_one_after_another_and_a_missed_hour_once() -> None:
    clock = [datetime(2026, 11, 1, 1, 59, tzinfo=LOCAL_TZ)]
    running: list[str] = []
    overlaps: list[tuple[str, str]] = []
    ran: list[tuple[str, datetime]] = []

    def job(name: str, takes: timedelta) -> Any:
        async def run(now: datetime) -> None:
            if running:
                overlaps.append((running[0], name))
            running.append(name)
            ran.append((name, now))
            clock[0] += takes  # the 1st's build of every school outlasts 02:07
            running.remove(name)

        return run

    monthly = CronJob(
        "monthly",
        CronTrigger(day=1, hour=2, minute=0, timezone=LOCAL_TZ),
        job("monthly", timedelta(hours=3, minutes=30)),
    )
    hourly = CronJob("hourly", CronTrigger(minute=7, timezone=LOCAL_TZ), job("hourly", timedelta(minutes=1)))
    worker = CronWorker("reports", [monthly, hourly], clock=lambda: clock[0])
    await worker.round()  # 01:59: nothing due yet; it sleeps until 02:00
    assert ran == [] and worker.interval_s == 60
    clock[0] = datetime(2026, 11, 1, 2, 0, tzinfo=LOCAL_TZ)
    await worker.round()  # 02:00 runs until 05:30; 02:07, 03:07, 04:07 and 05:07 were missed meanwhile
    await worker.round()  # ... and are run once, after it, not beside it
    await worker.round()  # nothing more until 06:07
    assert [name for name, _ in ran] == ["monthly", "hourly"] and overlaps == []
    assert hourly.next_at == datetime(2026, 11, 1, 6, 7, tzinfo=LOCAL_TZ)
    assert monthly.next_at == datetime(2026, 12, 1, 2, 0, tzinfo=LOCAL_TZ)


def test_two_processes_claiming_at_once_never_take_the_same_row(database_url: str, engine: Engine) -> None:
    # On Citus there is no SKIP LOCKED across shards: the second claim waits for the first and
    # finds its rows no longer due. Either way no notice is sent by two processes.
    if database_url.startswith("sqlite"):
        pytest.skip("one process works a SQLite database")
    from concurrent.futures import ThreadPoolExecutor

    from cloud_api.db.engine import make_engine

    queued(engine, 40)
    other = make_engine(database_url)

    def claim_all(eng: Engine) -> list[int]:
        mine: list[int] = []
        while True:
            with eng.begin() as conn:
                rows = QUEUE.claim(conn, now=NOW, limit=3, lease=LEASE)
            if not rows:
                return mine
            mine += [r.id for r in rows]

    try:
        with ThreadPoolExecutor(2) as pool:
            one, two = pool.map(claim_all, (engine, other))
    finally:
        other.dispose()
    assert not set(one) & set(two) and sorted(one + two) == sorted(states(engine))


async def test_the_report_jobs_run_in_one_process_at_a_time(database_url: str, engine: Engine) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("one process works a SQLite database")
    from cloud_api.reports.jobs import ReportJobs
    from cloud_api.settings import CloudSettings

    settings = CloudSettings(database_url=database_url, report_scheduler=True)
    ran: list[str] = []

    def process(name: str) -> ReportJobs:
        jobs = ReportJobs(engine, settings)

        async def run(now: datetime) -> None:
            ran.append(name)
            await asyncio.sleep(0.5)  # a run takes a while: the other process comes meanwhile

        jobs._reports_run = run  # type: ignore[method-assign]
        return jobs

    one, two = process("one"), process("two")
    try:
        await asyncio.gather(one._reports(NOW), two._reports(NOW))
        assert len(ran) == 1  # the hour's run, done once
        await two._reports(NOW + timedelta(hours=1))
        assert len(ran) == 2  # the lock is free again once the run is over
    finally:
        await one.aclose()
        await two.aclose()
