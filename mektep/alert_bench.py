"""The alerts' latency, for ``mektep bench fleet``: the alerts engine run in simulated time.

On the bench's own database, after its HTTP part, in this process: a clock starting at 10:00
Asia/Almaty on the next working day (school hours, so every rule may open); every gateway sends a
heartbeat each simulated minute, at a moment of the minute of its own (gateways are not in step),
through :func:`~cloud_api.services.gateway_health.store_heartbeat` as the heartbeat route would;
each failing gateway starts failing in its way at a random moment of the first two minutes (a silent
one sends nothing from then on; the others say what is wrong at their next check of their figures,
within ``gateway.heartbeat.CHECK_S``, as a gateway tells a change at once, and in every heartbeat
after). An
evaluation round (:func:`~cloud_api.alerts.store.evaluate`, with the deployment's figures, in its
own transaction) runs every ``alert_interval_s`` of simulated time and is timed in wall-clock.

For every failing subject, its latency is ``(the simulated time of the round that opened its alert −
(failure start + its rule's window)) + that round's wall time``: the check still to come, the
round still to come, and the round's own work. A silent gateway's window counts from its last
heartbeat, which came before it fell silent: its latency can be below zero.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete

from cloud_api.alerts.rules import RULES
from cloud_api.alerts.store import deployment_figures, evaluate
from cloud_api.db.engine import make_engine
from cloud_api.db.schema import alerts
from cloud_api.reports.deadline import is_working_day
from cloud_api.services.gateway_health import store_heartbeat
from cloud_api.services.gateways import GatewayRecord
from cloud_api.services.signatures import SignedBody
from cloud_api.settings import CloudSettings
from gateway.heartbeat import CHECK_S
from shared.contract import Heartbeat
from shared.localtime import LOCAL_TZ

__all__ = ["RULE_OF", "bench_alerts"]

# The rule each of the bench's failures opens (cloud_api.alerts.rules).
RULE_OF = {
    "silent": "gateway_silent",
    "reader_offline": "reader_offline",
    "disk_low": "disk_low",
    "backlog_old": "backlog_old",
    "clock_off": "clock_offset",
}
BEAT_EVERY = 60.0  # s, a gateway's heartbeat_interval_s
FAIL_WITHIN = 120.0  # s: every failure starts in the first two simulated minutes
SEED = 19  # the same moments every run, so that two runs compare

Beat = Callable[[str, str | None, datetime, int], dict[str, Any]]


def _p95(values: list[float]) -> float:
    """The 95th percentile, within the values (a handful of failures at the test's size: not beyond the worst)."""
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _school_morning(today: date) -> datetime:
    """10:00 Asia/Almaty of the first working day after ``today``."""
    day = today + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=LOCAL_TZ)


def _subject(gateway_id: str, failure: str) -> str:
    # A reader's alert is about the reader; the bench's failing reader is the turnstile's.
    return f"{gateway_id}/turnstile-1" if failure == "reader_offline" else gateway_id


def bench_alerts(
    url: str, fleet: list[tuple[str, str, str]], failures: Mapping[str, str], beat: Beat
) -> dict[str, Any]:
    """Run the simulation of the module's docstring over ``fleet`` ((gateway, school, key) each), the
    gateways of ``failures`` failing in their way; ``beat(gateway, failure, sent_at, n)`` is the body of a
    gateway's ``n``-th heartbeat. Answers the ``alert_*`` figures (an ``alert_note`` if any failure opened
    no alert)."""
    rng = random.Random(SEED)
    every = float(CloudSettings.model_fields["alert_interval_s"].default)
    start = _school_morning(datetime.now(LOCAL_TZ).date())
    fail_at = {g: rng.uniform(0, FAIL_WITHIN) for g in failures}
    expected = {(RULE_OF[f], _subject(g, f)): g for g, f in failures.items()}
    window = {g: RULES[RULE_OF[f]].window.total_seconds() for g, f in failures.items()}
    # Long enough for the longest window: its failure's start, the heartbeat that tells, the round after.
    span = max(window.values(), default=0.0) + FAIL_WITHIN + BEAT_EVERY + every
    # Every heartbeat of the run (seconds from the start, gateway, its n-th), the first ones before the
    # start so that every gateway is heard from, healthy, by the first round.
    beats = [
        (phase + BEAT_EVERY * (n - 1), n, gateway)
        for gateway, phase in ((g, rng.uniform(0, BEAT_EVERY)) for g, _s, _k in fleet)
        for n in range(int(span // BEAT_EVERY) + 2)
    ]
    # A failing gateway tells at its next check of its figures, not with its next minute's heartbeat
    # (gateway.heartbeat: a change of troubles is sent at once); a silent one tells nothing.
    told = int(span // BEAT_EVERY) + 2
    beats += [(fail_at[g] + rng.uniform(0, CHECK_S), told, g) for g, f in failures.items() if f != "silent"]
    beats.sort()
    records = {g: GatewayRecord(g, s, k.encode()) for g, s, k in fleet}
    ours = {s for _g, s, _k in fleet}
    engine = make_engine(url)
    opened: dict[tuple[str, str], tuple[float, float]] = {}  # (rule, subject) → (round's time, its wall time)
    rounds_ms: list[float] = []
    try:
        with engine.begin() as conn:  # whatever the served process's own rounds made of the HTTP part
            conn.execute(delete(alerts).where(alerts.c.school_id.in_(ours)))
        next_beat, t = 0, 0.0
        while t <= span:
            with engine.begin() as conn:
                while next_beat < len(beats) and beats[next_beat][0] <= t:
                    at_s, n, gateway = beats[next_beat]
                    next_beat += 1
                    failing = failures.get(gateway) if at_s >= fail_at.get(gateway, span) else None
                    if failing == "silent":
                        continue
                    at = start + timedelta(seconds=at_s)
                    record = records[gateway]
                    signed = SignedBody(record, b"", str(int(at.timestamp())), f"{gateway}-alerts-{n}")
                    body = Heartbeat.model_validate(beat(gateway, failing, at, n))
                    store_heartbeat(conn, signed, gateway, body, at)
            started = time.perf_counter()
            with engine.begin() as conn:
                changes = evaluate(conn, start + timedelta(seconds=t), deployment_figures(conn))
            wall = time.perf_counter() - started
            rounds_ms.append(wall * 1000)
            for school, rule, subject in changes.opened:
                if school in ours:  # not the deployment's own alerts, nor another fleet's on a shared database
                    opened.setdefault((rule, subject), (t, wall))
            t += every
    finally:
        engine.dispose()
    latencies = [
        opened[key][0] - (fail_at[g] + window[g]) + opened[key][1] for key, g in expected.items() if key in opened
    ]
    missed = len(expected) - len(latencies)
    figures: dict[str, Any] = {
        "alert_latency_p95_s": round(_p95(latencies), 1) if latencies else None,
        "alert_latency_max_s": round(max(latencies), 1) if latencies else None,
        "alerts_opened": len(opened),
        "false_alerts": len(opened.keys() - expected.keys()),
        "alert_round_ms_p95": round(_p95(rounds_ms), 1),
        "alert_rounds": len(rounds_ms),
    }
    if missed:
        figures["alert_note"] = f"{missed} of {len(expected)} failures opened no alert in {span / 60:.0f} simulated min"
    return figures
