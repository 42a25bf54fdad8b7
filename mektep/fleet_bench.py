"""``mektep bench fleet``: a deployment's gateways sending heartbeats to one cloud process, and its fleet page.

The database gets ``gateways`` schools (in 20 regions), each with a gateway registered with its key,
and the deployment administrator's account (password and authenticator code). A real ``mektep cloud
serve`` process on that database (SQLite by default, or the URL given) is then asked, over HTTP:

- ``healthz_per_s``: ``GET /healthz`` from the same clients: the baseline of this machine and server;
- ``heartbeats_per_s``: signed heartbeats stored per second, every gateway sending ``rounds`` of them
  as fast as ``clients`` concurrent clients can (time compressed: a minute's heartbeats in a moment).
  A hundredth of the gateways fails in each way: silent (its last heartbeat a quarter of an hour old,
  nothing sent during the run), a reader offline, the disk nearly full, the oldest event waiting two
  hours, the clock 5 s ahead; ``fleet_counts`` is what the deployment's fleet page then counts;
- ``fleet_page_p95_ms``: the deployment's fleet page (worst first, a hundred rows of all the
  gateways) asked 50 times in a row, signed in as its administrator; ``fleet_json_p95_ms`` its JSON
  twin (every gateway); ``healthz_p95_ms`` the baseline asked the same way;

Then, in this process on the same database (:mod:`mektep.alert_bench`), the alerts engine in simulated
time: from 10:00 of the next working day every gateway beats each minute, a hundredth of them starts
failing in each way above within the first two minutes, and the rules are evaluated every
``alert_interval_s`` (20 s) for 13 minutes (the longest window, silent's 10 minutes, and the rest):

- ``alert_latency_p95_s``, ``alert_latency_max_s``: from a failure's start plus its rule's window to
  the round that opened its alert (simulated), plus that round's wall time; the goal is 60 s;
- ``alerts_opened``: one per failing gateway; ``false_alerts``: any other (a healthy gateway's);
- ``alert_round_ms_p95``: the wall time of one round over every gateway (``alert_rounds`` of them);
  ``alert_note`` only if a failure opened no alert.

Bodies are built and signed before the clock starts; each client is a process of its own (building
requests in the server's interpreter, or one client's, would measure Python rather than the cloud).
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import insert

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import gateways, schools
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateway_health import store_heartbeat
from cloud_api.services.gateways import GatewayRecord
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.services.signatures import SignedBody
from mektep.alert_bench import bench_alerts
from mektep.processes import CloudProcess
from mektep.timing import p95, times_ms
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Heartbeat, heartbeat_path, sign

__all__ = ["FAILURES", "bench_fleet"]

LOGIN, PASSWORD = "it@deployment.kz", "correct horse battery"
REGIONS = 20
ASKS = 50
# What a hundredth of the gateways each suffers, in the fleet's words (cloud_api.services.fleet).
FAILURES = ("silent", "reader_offline", "disk_low", "backlog_old", "clock_off")
_EXAMPLE: dict[str, Any] = dict(Heartbeat.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]


def _failure(n: int, total: int) -> str | None:
    """The failure of gateway ``n`` (the first hundredth silent, the next a reader offline, …), else None."""
    share = max(1, total // 100)
    index = n // share
    return FAILURES[index] if index < len(FAILURES) else None


def _beat(gateway_id: str, failure: str | None, round_: int, now: datetime | None = None) -> dict[str, Any]:
    """The body of a gateway's heartbeat (its ``round_``-th), sent ``now``, saying what ``failure`` makes wrong."""
    now = now or datetime.now(UTC)
    body = {
        **_EXAMPLE,
        "gateway_id": gateway_id,
        "sent_at": (now + timedelta(seconds=5 if failure == "clock_off" else 0)).isoformat(),
        "uptime_s": 86400.0 + 60 * round_,
        "parts": {"link:turnstile-1": "ok", "link:canteen-1": "ok", "forwarder": "ok", "roster_sync": "ok"},
        "clock_offset_s": 5.0 if failure == "clock_off" else 0.01,
    }
    if failure == "reader_offline":
        body["parts"] = {**body["parts"], "link:turnstile-1": "offline"}
    elif failure == "disk_low":
        body |= {"disk_free_ratio": 0.05, "disk_free_bytes": 3_000_000_000}
    elif failure == "backlog_old":
        body |= {"outbox_pending": 1800, "oldest_pending_age_s": 7200.0}
    return body


def _fill(url: str, total: int) -> tuple[list[tuple[str, str, str]], str]:
    """The schools, their gateways and keys, the silent ones' last heartbeat; the administrator's TOTP secret."""
    upgrade(url)
    engine = make_engine(url)
    run = secrets.token_hex(3)
    fleet = [(f"gw-{run}-{n}", f"school-{run}-{n}", secrets.token_hex(16)) for n in range(total)]
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(schools),
                [
                    {"school_id": s, "name": f"Мектеп № {n}", "region_id": f"region-{n % REGIONS}"}
                    for n, (_g, s, _k) in enumerate(fleet)
                ],
            )
            conn.execute(
                insert(gateways), [{"gateway_id": g, "school_id": s, "key": k, "created_at": now} for g, s, k in fleet]
            )
            for n, (gateway_id, school_id, key) in enumerate(fleet):
                if _failure(n, total) == "silent":  # heard from a quarter of an hour ago, then nothing
                    at = now - timedelta(minutes=15)
                    signed = SignedBody(
                        GatewayRecord(gateway_id, school_id, key.encode()), b"", "0", secrets.token_hex(8)
                    )
                    beat = Heartbeat.model_validate({**_beat(gateway_id, None, 0), "sent_at": at.isoformat()})
                    store_heartbeat(conn, signed, gateway_id, beat, at)
            account = create_account(conn, f"{run}-{LOGIN}", actor=SYSTEM, password=PASSWORD)
            grant_role(conn, account.id, Role.DEPLOYMENT_ADMIN, None, actor=SYSTEM)
            secret = begin_totp(conn, account.id, f"{run}-{LOGIN}", now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id=None)
    finally:
        engine.dispose()
    return fleet, f"{run}-{LOGIN}|{secret}"


def _requests(fleet: list[tuple[str, str, str]], rounds: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every heartbeat of the run, signed: (path, body, headers), round by round."""
    out = []
    for round_ in range(rounds):
        for n, (gateway_id, _school, key) in enumerate(fleet):
            failure = _failure(n, len(fleet))
            if failure == "silent":
                continue
            body = json.dumps(_beat(gateway_id, failure, round_)).encode()
            path, ts = heartbeat_path(gateway_id), str(int(time.time()))
            headers = {
                HEADER_GATEWAY: gateway_id,
                HEADER_TIMESTAMP: ts,
                HEADER_SIGNATURE: sign(key.encode(), "POST", path, ts, body),
                "Content-Type": "application/json",
            }
            out.append((path, body, headers))
    return out


def _post_all(base_url: str, work: list[tuple[str, bytes, dict[str, str]]], start_at: float) -> tuple[int, float]:
    """One client: post its share from ``start_at`` (a shared moment); (stored, when it finished)."""
    stored = 0
    with httpx.Client(base_url=base_url, timeout=60) as client:
        client.get("/healthz")  # connected before the start
        time.sleep(max(0.0, start_at - time.time()))
        for path, body, headers in work:
            answer = client.post(path, content=body, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
            stored += 1
    return stored, time.time()


def _healthz_all(base_url: str, asks: int, start_at: float) -> tuple[int, float]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        client.get("/healthz")
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(asks):
            client.get("/healthz").raise_for_status()
    return asks, time.time()


def _warm(_n: int) -> None:
    time.sleep(0.5)  # long enough that every worker process of the pool is started and has imported this


def _rate(pool: ProcessPoolExecutor, fn: Any, shares: list[Any], base_url: str) -> float:
    list(pool.map(_warm, range(len(shares))))
    start_at = time.time() + 0.5  # every client connected and waiting
    results = list(pool.map(fn, [base_url] * len(shares), shares, [start_at] * len(shares)))
    return sum(n for n, _end in results) / (max(end for _n, end in results) - start_at)


def bench_fleet(
    database_url: str | None = None, *, gateways_n: int = 2000, rounds: int = 3, clients: int = 4, asks: int = ASKS
) -> dict[str, Any]:
    """Fill, serve, send every heartbeat, ask the fleet page; the figures of the module's docstring."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-fleet-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'cloud.db'}"
        fleet, who = _fill(url, gateways_n)
        login, secret = who.split("|")
        requests = _requests(fleet, rounds)
        shares = [requests[i::clients] for i in range(clients)]
        cloud = CloudProcess(Path(tmp), database_url=url)
        cloud.start_and_wait()
        try:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(clients, mp_context=context) as pool:
                healthz_rate = _rate(pool, _healthz_all, [len(s) for s in shares], cloud.url)
                beats_rate = _rate(pool, _post_all, shares, cloud.url)
            with httpx.Client(base_url=cloud.url, timeout=120, headers={"Origin": cloud.url}) as client:
                signed = client.post(
                    "/v1/auth/sign-in",
                    json={
                        "login": login,
                        "password": PASSWORD,
                        "code": pyotp.TOTP(secret).at(time.time(), counter_offset=1),
                    },
                )
                signed.raise_for_status()
                client.cookies.set("mektep_session", signed.json()["token"])
                page, data = "/office/deployment/fleet", "/office/deployment/fleet?format=json"
                times_ms(client, page, 3)  # warm: templates compiled
                counts = client.get(data).json()["counts"]
                healthz = times_ms(client, "/healthz", asks)
                page_times = times_ms(client, page, asks)
                json_times = times_ms(client, data, max(5, asks // 5))
        finally:
            cloud.stop()
        failures = {g: f for n, (g, _s, _k) in enumerate(fleet) if (f := _failure(n, len(fleet))) is not None}
        alert_figures = bench_alerts(url, fleet, failures, lambda g, f, at, n: _beat(g, f, n, at))
    return {
        "gateways": gateways_n,
        "heartbeats": len(requests),
        "clients": clients,
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "heartbeats_per_s": round(beats_rate, 1),
        "healthz_per_s": round(healthz_rate, 1),
        "fleet_page_p95_ms": round(p95(page_times), 1),
        "fleet_json_p95_ms": round(p95(json_times), 1),
        "healthz_p95_ms": round(p95(healthz), 2),
        **alert_figures,
        "fleet_counts": {k: v for k, v in counts.items() if v},
    }
