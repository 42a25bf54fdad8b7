"""``absence_notices_s`` of ``mektep bench notify``: from the not-arrived deadline to the last notice on a phone.

The notify bench's school (3,000 students, each with a guardian with one or two devices, consent
given) sets its day (08:00, 15 minutes' grace). On the last school day before today, 95 % of the
students have an entry at 07:50 (written straight into the database: their own notices would be
the rush's again) and 5 % have none. At that day's 08:15 the absence worker makes one round, driven
by an injected clock, against the cloud's database (as one more API process would), and the cloud
process's own push workers pick the notices up (they poll every half second for other processes'
rows) and send them to the push simulator, which decrypts each as a phone would. The figure is
from the round's start (the worker sleeps until the deadline exactly) to the last notice
decrypted; the goal is all within 60 s. It starts once the push queue is empty: the lunch phase
before it queued a meal notice for every student, and its wait ends with the Wallet, not the phones.

A past day, not today: the bench may run on a weekend, and today's rush gave every student an
entry, so the cloud's own worker (real clock) has nobody to tell about today.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import func, insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import events, people, push_queue
from cloud_api.push.absence_worker import AbsenceWorker
from cloud_api.push.queue import State
from cloud_api.services.ingest import event_row
from cloud_api.services.school_hours import ClassDay, SchoolHours, is_school_day, set_school_hours
from shared.contract import Event
from shared.localtime import LOCAL_TZ
from simulators.push_service import PushServiceServer

__all__ = ["ABSENT_SHARE", "bench_absence_notices"]

ABSENT_SHARE = 0.05
HOURS = SchoolHours(ClassDay(clock_time(8), clock_time(14)), 15)


def _last_school_day_before(day: date) -> date:
    day -= timedelta(days=1)
    while not is_school_day(day):
        day -= timedelta(days=1)
    return day


def _entry(school_id: str, gateway_id: str, seq: int, person: str, at: datetime) -> Event:
    return Event.model_validate(
        {
            "id": str(uuid.uuid4()),
            "seq": seq,
            "school_id": school_id,
            "gateway_id": gateway_id,
            "device_id": "door-0",
            "kind": "entry",
            "person_id": person,
            "occurred_at": at.isoformat(),
            "decision": "granted",
            "reason": "on_roster",
            "judged_without_roster": False,
        }
    )


def bench_absence_notices(
    database_url: str, school_id: str, gateway_id: str, service: PushServiceServer, seed: int, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Set the day, leave 5 % without an entry, run the worker once at the deadline; the figures."""
    rng = random.Random(seed)
    engine = make_engine(database_url)
    day = _last_school_day_before(datetime.now(LOCAL_TZ).date())
    deadline = datetime.combine(day, clock_time(8, 15), LOCAL_TZ).astimezone(UTC)
    try:
        with engine.begin() as conn:
            pupils = [str(p) for p in conn.execute(select(people.c.id).where(people.c.role == "student")).scalars()]
            absent = set(rng.sample(pupils, max(1, round(len(pupils) * ABSENT_SHARE))))
            came = datetime.combine(day, clock_time(7, 50), LOCAL_TZ)
            rows = [
                event_row(_entry(school_id, gateway_id, 30_000_000 + n, p, came), deadline, 0)
                for n, p in enumerate(pupils)
                if p not in absent
            ]
            conn.execute(insert(events), rows)
            set_school_hours(conn, school_id, HOURS, actor="bench", now=datetime.now(UTC))
        _drained(engine, timeout_s)  # the lunch phase's meal notices go first: measure ours alone
        devices_of = _devices_per_child(service)
        before = len(service.state.arrived)
        worker = AbsenceWorker(engine, clock=lambda: deadline)
        started = time.perf_counter()
        asyncio.run(worker.round())
        swept = time.perf_counter() - started

        def not_arrived(got: list[Any]) -> list[Any]:
            return [a for a in got[before:] if a.payload.get("tag", "").endswith(":not_arrived")]

        expected = sum(devices_of.get(p, 0) for p in absent)
        service.state.wait_for(lambda got: len(not_arrived(got)) >= expected, timeout_s)
        arrived = not_arrived(list(service.state.arrived))
        last = max((a.at for a in arrived), default=float("inf"))
        wrong = {a.payload["tag"].split(":")[0] for a in arrived} - absent
    finally:
        engine.dispose()
    return {
        "absence_notices_s": round(last - started, 3),
        "absence_sweep_s": round(swept, 3),
        "absence_children": len(absent),
        "absence_pushes": len(arrived),
        "absence_pushes_expected": expected,
        "absence_wrong_children": len(wrong),
    }


def _drained(engine: Any, timeout_s: float) -> None:
    """Wait until the push queue has no pending notice (the earlier phases' have all gone)."""
    deadline = time.monotonic() + timeout_s
    pending = select(func.count()).select_from(push_queue).where(push_queue.c.state == State.PENDING.value)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(pending).scalar_one():
                return
        time.sleep(0.2)


def _devices_per_child(service: PushServiceServer) -> dict[str, int]:
    # Every device of the bench got the rush's entry notice of each child of its guardian: count them.
    counts: dict[str, int] = {}
    for a in service.state.arrived:
        tag = a.payload.get("tag", "")
        if tag.endswith(":entry"):
            child = tag.split(":")[0]
            counts[child] = counts.get(child, 0) + 1
    return counts
