"""``mektep bench``: speed measured in one run, as figures and ratios against baselines.

``mektep bench gateway`` measures, on this machine:

- ``grant_p50_ms`` / ``grant_p99_ms``: tap → grant line over a real pty at a steady rate, through
  a gateway process forwarding to a cloud process;
- ``mqtt_grant_p50_ms`` / ``mqtt_grant_p99_ms``: a canteen terminal's tap published → its answer
  received, through Mosquitto started from the files ``mektep config mosquitto`` generates for the
  site, the same gateway and cloud, at the same rate;
- ``taps_per_s``: durable recorded taps per second the pipeline sustains at saturation;
- ``peer_taps_per_s``: the same work through persist-queue's ``SQLiteAckQueue`` (one commit a tap);
- ``limit_taps_per_s``: bare batched SQLite inserts with the same durability (this disk's limit);
- ``floor_taps_per_s``: the same batched inserts, each row made in the timed loop with the work the
  contract asks of every tap (UUIDv7, local time, keyed credential hash, the event's JSON) and
  nothing else: no decision, no feedback, no event loop. What any Python gateway could reach here.
- ``drain_events_per_s``: buffered events forwarded to a local cloud on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from uuid_utils import uuid7

from device_drivers.base import CardRead, Direction, utcnow
from gateway.storage import Storage
from gateway.taps.drafts import CredentialHasher, Draft
from gateway.taps.forwarder import Forwarder
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, NoRosterPolicy, Place
from mektep.backlog_bench import bench_backlog
from mektep.citus_cluster import citus_missing
from mektep.ingest_bench import run_ingest_bench
from mektep.notify_bench import bench_notify
from mektep.office_bench import bench_office
from mektep.processes import CloudProcess, GatewayProcess, free_port, mqtt_password_env, write_site
from mektep.readers_bench import bench_readers
from mektep.report_bench import DEFAULT_POSTGRES, bench_report
from mektep.roster_bench import bench_roster
from mektep.scale_bench import HEADROOM, NATIONAL_PEAK_EVENTS_PER_S, bench_scale
from mektep.sign_in_bench import bench_sign_in
from shared.contract import CredentialKind, Decision, EventKind
from shared.localtime import LOCAL_TZ
from simulators.broker import INSTALL_HINT, find_mosquitto, start_site_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.serial_reader import SerialReaderSim

__all__ = ["app", "bench_gateway"]

app = typer.Typer(help="Benchmarks (figures, never assertions).", no_args_is_help=True, add_completion=False)
POINTS = {"in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)}


def mqtt_grant_latency(workdir: Path, taps: int, rate: float) -> list[float]:
    """Milliseconds from a canteen terminal's tap published to the gateway's answer received, over MQTT."""
    need_mosquitto()
    cloud = CloudProcess(workdir / "cloud")
    env = write_site(
        workdir / "gw" / "site.yaml",
        school_id="bench",
        gateway_id="gw-bench",
        cloud_url=cloud.url,
        data_dir=workdir / "gw" / "data",
        terminals=["till-1"],
        mqtt_port=free_port(),
        readers=[],
        broker_users=True,
    )
    broker = start_site_broker(workdir / "gw" / "site.yaml", workdir / "broker", env)
    gateway = GatewayProcess(workdir / "gw" / "site.yaml", env)
    till: CanteenTerminalSim | None = None
    latencies: list[float] = []
    try:
        cloud.register_gateway("gw-bench", "bench", env["MEKTEP_GATEWAY_KEY"])
        cloud.start_and_wait()
        gateway.start_and_wait()
        till = CanteenTerminalSim(
            "127.0.0.1",
            broker.port,
            school="bench",
            device="till-1",
            username="till-1",
            password=env[mqtt_password_env("till-1")],
        )
        till.wait_connected()
        while not all(d["online"] for d in gateway.status()["drivers"]):  # type: ignore[index, union-attr]
            time.sleep(0.05)
        start = time.perf_counter()
        for i in range(taps):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tap_id = till.tap(f"{i:010X}")
            if till.wait_feedback_for(tap_id, 5.0) is not None:
                latencies.append((till.latency_s(tap_id) or 0.0) * 1000)
    finally:
        if till is not None:
            till.close()
        gateway.stop()
        cloud.stop()
        broker.stop()
    return latencies


def need_mosquitto() -> None:
    """Stop with the way to install Mosquitto when it is absent (the MQTT figures need the real broker)."""
    if find_mosquitto() is None:
        raise typer.BadParameter(INSTALL_HINT)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _reads(n: int) -> list[CardRead]:
    return [CardRead("in-1", f"{i:010X}", CredentialKind.EM4100, utcnow()) for i in range(n)]


def grant_latency(workdir: Path, taps: int, rate: float) -> list[float]:
    """Milliseconds from a frame written to the pty to the grant line read back."""
    cloud = CloudProcess(workdir / "cloud")
    reader = SerialReaderSim(workdir / "ttyIN")
    env = write_site(
        workdir / "gw" / "site.yaml",
        school_id="bench",
        gateway_id="gw-bench",
        cloud_url=cloud.url,
        data_dir=workdir / "gw" / "data",
        terminals=[],
        mqtt_port=None,
        readers=[
            {"id": "in-1", "framing": "em4100", "port": str(reader.link), "direction": "entry", "repeat_suppress_s": 0}
        ],
    )
    gateway = GatewayProcess(workdir / "gw" / "site.yaml", env)
    latencies: list[float] = []
    try:
        cloud.register_gateway("gw-bench", "bench", env["MEKTEP_GATEWAY_KEY"])
        cloud.start_and_wait()
        gateway.start_and_wait()
        while not all(d["online"] for d in gateway.status()["drivers"]):  # type: ignore[index, union-attr]
            time.sleep(0.05)
        start = time.perf_counter()
        for i in range(taps):
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            card = f"{i:010X}"
            reader.present(card)
            line = reader.next_feedback(5.0)
            if line is not None:
                latencies.append((line.at - reader.sent_at[card]) * 1000)
    finally:
        gateway.stop()
        cloud.stop()
        reader.close()
    return latencies


async def _pipeline_rate(path: Path, n: int) -> float:
    storage = Storage(path)
    await storage.open()
    answered = 0
    done = asyncio.Event()

    def feedback(_reader: str, _fb: object) -> None:
        nonlocal answered
        answered += 1
        if answered == n:
            done.set()

    pipeline = Pipeline(
        school_id="bench",
        gateway_id="gw-bench",
        credential_key=b"k",
        storage=storage,
        policy=NoRosterPolicy(),
        points=POINTS,
        feedback=feedback,
    )
    task = asyncio.create_task(pipeline.run())
    reads = _reads(n)
    start = time.perf_counter()
    # Taps arrive over time, not all at once: feed them in small bursts as readers would.
    for i in range(0, n, 50):
        for read in reads[i : i + 50]:
            pipeline.card_read(read)
        await asyncio.sleep(0)
    await done.wait()
    elapsed = time.perf_counter() - start
    task.cancel()
    await storage.close()
    return n / elapsed


def _event_json(i: int) -> str:
    return json.dumps(
        {
            "id": str(uuid7()),
            "seq": i,
            "school_id": "bench",
            "gateway_id": "gw-bench",
            "device_id": "in-1",
            "kind": "entry",
            "occurred_at": utcnow().isoformat(),
            "decision": "granted",
            "reason": "no_roster",
            "credential_hash": "0" * 64,
        }
    )


def peer_rate(path: Path, n: int) -> float:
    """persist-queue's SQLiteAckQueue, one durable put per tap (its contract), same pragmas."""
    from persistqueue import SQLiteAckQueue

    queue = SQLiteAckQueue(str(path), auto_commit=True)
    queue._putter.execute("PRAGMA synchronous=FULL")
    start = time.perf_counter()
    for i in range(n):
        queue.put(_event_json(i))
    return n / (time.perf_counter() - start)


def _bare_events_table(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body TEXT)")
    return conn


def limit_rate(path: Path, n: int, batch: int = 512) -> float:
    """Pre-serialised rows inserted in batches, one commit a batch, WAL + FULL."""
    conn = _bare_events_table(path)
    rows = [(i, str(uuid7()), _event_json(i)) for i in range(1, n + 1)]
    start = time.perf_counter()
    for i in range(0, n, batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows[i : i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def floor_rate(path: Path, n: int, batch: int = 512) -> float:
    """``limit_rate`` with each row made in the loop by the code the pipeline uses, and nothing more.

    On a disk whose fsync is cheap, the limit is SQLite's own C insert speed, and the per-tap work
    the contract requires (an id, the local time, a keyed hash, the JSON) costs CPython more than
    the insert. This figure says how much of the limit is left once that work is done inline.
    """
    conn = _bare_events_table(path)
    hasher = CredentialHasher(b"bench-key")
    start = time.perf_counter()
    for i in range(1, n + 1, batch):
        rows = []
        for seq in range(i, min(n + 1, i + batch)):
            draft = Draft(
                str(uuid7()),
                "bench",
                "gw-bench",
                "in-1",
                EventKind.ENTRY,
                utcnow().astimezone(LOCAL_TZ).isoformat(),
                Decision.GRANTED,
                "no_roster",
                credential_kind=CredentialKind.EM4100,
                credential_hash=hasher(f"{seq:010X}"),
            )
            rows.append((seq, draft.id, draft.body(seq)))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def _drain_rate(workdir: Path, n: int) -> float:
    cloud = CloudProcess(workdir / "cloud-drain")
    key = secrets.token_hex(32)
    cloud.register_gateway("gw-bench", "bench", key)
    cloud.start_and_wait()
    storage = Storage(workdir / "drain.db")
    outbox = await storage.open()
    for i in range(0, n, 5000):
        now = utcnow().isoformat()
        batch = [
            Draft(str(uuid7()), "bench", "gw-bench", "in-1", EventKind.ENTRY, now, Decision.GRANTED, "no_roster")
            for _ in range(min(5000, n - i))
        ]
        await storage.call(lambda o, b=batch: o.record(b))
    forwarder = Forwarder(
        storage=storage,
        gateway_id="gw-bench",
        key=key.encode(),
        base_url=cloud.url,
        batch_size=1000,
        retry_initial_s=0.1,
        retry_max_s=1.0,
    )
    start = time.perf_counter()
    task = asyncio.create_task(forwarder.run())
    while outbox.counts().pending:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await storage.close()
    cloud.stop()
    return n / elapsed


def bench_gateway(taps: int = 1000, saturation: int = 20_000, drain: int = 100_000) -> dict[str, float]:
    """Run every measurement once and return the figures."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-") as tmp:
        work = Path(tmp)
        latencies = grant_latency(work / "latency", taps, 50.0)
        mqtt = mqtt_grant_latency(work / "mqtt", taps, 50.0)
        figures: dict[str, Any] = {
            "grant_p50_ms": statistics.median(latencies),
            "grant_p99_ms": _percentile(latencies, 0.99),
            "mqtt_grant_p50_ms": statistics.median(mqtt),
            "mqtt_grant_p99_ms": _percentile(mqtt, 0.99),
            "taps_per_s": asyncio.run(_pipeline_rate(work / "pipeline.db", saturation)),
            "peer_taps_per_s": peer_rate(work / "peer", min(saturation, 5000)),
            "limit_taps_per_s": limit_rate(work / "limit.db", saturation),
            "floor_taps_per_s": floor_rate(work / "floor.db", saturation),
            "drain_events_per_s": asyncio.run(_drain_rate(work, drain)),
        }
    return {k: round(float(v), 2) for k, v in figures.items()}


def _figures_table(title: str, figures: dict[str, Any], goals: dict[str, str], digits: int = 2) -> Table:
    """A benchmark's figures with their goals, one row each (ratios are added by the caller)."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    for name, value in figures.items():
        shown = (
            value if isinstance(value, str) else f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
        )
        table.add_row(name, shown, goals.get(name, ""))
    return table


@app.command()
def gateway(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    taps: int = typer.Option(1000, help="Taps for the latency figure (at 50 taps/s)."),
    drain: int = typer.Option(100_000, help="Buffered events for the drain figure."),
) -> None:
    """Measure the gateway: grant latency (serial and MQTT), durable taps/s against two baselines, drain rate.

    Example:
        mektep bench gateway --json
    """
    figures = bench_gateway(taps=taps, drain=drain)
    goals = {"grant_p99_ms": "≤ 15", "mqtt_grant_p99_ms": "≤ 15", "drain_events_per_s": "≥ 5,000"}
    table = _figures_table("mektep bench gateway", figures, goals)
    table.add_row("MQTT p99 / serial p99", f"{figures['mqtt_grant_p99_ms'] / figures['grant_p99_ms']:.2f}×", "")
    table.add_row("taps / peer", f"{figures['taps_per_s'] / figures['peer_taps_per_s']:.2f}×", "≥ 2×")
    table.add_row("taps / limit", f"{figures['taps_per_s'] / figures['limit_taps_per_s']:.2f}×", "≥ 0.5×")
    table.add_row("floor / limit", f"{figures['floor_taps_per_s'] / figures['limit_taps_per_s']:.2f}×", "")
    table.add_row("taps / floor", f"{figures['taps_per_s'] / figures['floor_taps_per_s']:.2f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command()
def backlog(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    events: int = typer.Option(50_000, min=1, help="Events of the backlog (a big school's week is ~100,000)."),
    rate: float = typer.Option(4.0, min=0.1, help="Live taps a second during the drain."),
    rtt: float = typer.Option(0.1, min=0.0, help="Seconds of round trip the link adds to each request."),
    mbit: float = typer.Option(8.0, min=0.1, help="The link's upload bandwidth, Mbit/s, shared by every request."),
) -> None:
    """Measure live taps reaching the cloud while a backlog drains over a slow link, against no backlog.

    Example:
        mektep bench backlog --events 50000 --mbit 8 --json
    """
    figures = bench_backlog(backlog=events, rate=rate, rtt_s=rtt, mbit_s=mbit)
    goals = {"live_p95_ms": "≤ 2,000"}
    title = f"mektep bench backlog ({events:,} events, {rate:g} taps/s, {rtt * 1000:g} ms, {mbit:g} Mbit/s)"
    table = _figures_table(title, figures, goals)
    table.add_row("live p95 / baseline p95", f"{figures['live_p95_ms'] / figures['baseline_p95_ms']:.2f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command()
def readers(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    reads: int = typer.Option(1000, min=1, help="Cards presented in each run."),
    count: int = typer.Option(8, "--readers", min=1, max=126, help="Readers on the bus in the main run."),
    interval: float = typer.Option(0.4, min=0.0, help="Mean seconds between a reader's answer and its next card."),
) -> None:
    """Measure card → grant LED on OSDP readers: eight on one 115200-baud bus, one alone as the baseline.

    Both runs go through the OSDP driver, the pipeline and a durable outbox, as in a school, at
    the same cards per second on the bus.

    Example:
        mektep bench readers --json
    """
    figures = bench_readers(reads=reads, readers=count, interval_s=interval)
    goals = {"osdp_grant_p99_ms": "≤ 100", "osdp_missed": "0"}
    table = _figures_table(f"mektep bench readers ({count} readers, {reads} reads a run)", figures, goals)
    table.add_row("p99 / single p99", f"{figures['osdp_grant_p99_ms'] / figures['osdp_single_p99_ms']:.2f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command()
def roster(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    students: int = typer.Option(3000, min=10, help="Students in the school (guardians and staff follow)."),
    taps: int = typer.Option(20_000, min=100, help="Taps judged for the decision figures."),
) -> None:
    """Measure a school's roster: NEDB import, a gateway's full and 50-change syncs, decision latency.

    Example:
        mektep bench roster --json
    """
    figures = bench_roster(students=students, taps=taps)
    goals = {"full_sync_s": "≤ 2", "delta_sync_ms": "≤ 200", "decision_p99_ms": "≤ 2"}
    table = _figures_table(f"mektep bench roster ({students} students)", figures, goals, digits=3)
    ratio = figures["decision_p99_ms"] / figures["baseline_decision_p99_ms"]
    table.add_row("decision p99 / without a roster", f"{ratio:.2f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command()
def notify(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    students: int = typer.Option(3000, min=10, help="Students in the school (one guardian each, 1–2 devices)."),
    rush_s: float = typer.Option(120.0, min=1.0, help="Seconds over which every student enters."),
    doors: int = typer.Option(4, min=1, max=16, help="Turnstile readers sharing the rush."),
) -> None:
    """Measure parents' alerts: card at the turnstile → notice decrypted on a phone, and push capacity.

    Example:
        mektep bench notify --json
    """
    figures = bench_notify(students=students, rush_s=rush_s, readers=doors)
    goals = {"push_p95_s": "≤ 2", "pushes_per_s": "≥ 300", "absence_notices_s": "≤ 60"}
    title = f"mektep bench notify ({students} students, rush of {rush_s:g} s)"
    Console().print(_figures_table(title, figures, goals, digits=3))
    if json_output:
        print(json.dumps(figures))


@app.command()
def report(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    students: int = typer.Option(3000, min=10, help="Students of each school."),
    schools: int = typer.Option(200, min=1, help="Schools of the region (on PostgreSQL)."),
    postgres_url: str = typer.Option(DEFAULT_POSTGRES, help="A database this benchmark may drop and create."),
    no_postgres: bool = typer.Option(False, "--no-postgres", help="SQLite only."),
) -> None:
    """Measure the monthly reports: rollups at ingest, one school's report, a region of 200 schools.

    Example:
        mektep bench report --json
    """
    figures = bench_report(students=students, schools=schools, postgres_url=None if no_postgres else postgres_url)
    goals = {"school_report_s": "≤ 2", "region_report_s_postgres": "≤ 60"}
    table = _figures_table(f"mektep bench report ({schools} schools of {students})", figures, goals, digits=3)
    table.add_row(
        "school report / XlsxWriter writing the табель alone",
        f"{figures['school_report_s'] / figures['baseline_tabel_xlsx_s']:.2f}×",
        "",
    )
    table.add_row(
        "openpyxl / XlsxWriter writing the табель",
        f"{figures['baseline_tabel_openpyxl_s'] / figures['baseline_tabel_xlsx_s']:.2f}×",
        "",
    )
    if "baseline_scan_s_postgres" in figures:
        region = figures["region_report_s_postgres"] / figures["baseline_scan_s_postgres"]
        table.add_row("region report / counting its events", f"{region:.2f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command()
def scale(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    batches: int = typer.Option(20, min=1, help="Batches of 500 events each of the 4 gateways sends."),
    schools: int = typer.Option(50, min=1, help="Schools of the generated region."),
    students: int = typer.Option(300, min=10, help="Students of each generated school."),
) -> None:
    """Measure the cloud on one PostgreSQL server and on a Citus cluster (a coordinator, two workers).

    Example:
        mektep bench scale --json
    """
    missing = citus_missing()
    if missing is not None:
        raise typer.BadParameter(missing)
    figures = bench_scale(batches=batches, schools=schools, students=students)
    goals = {"ingest_events_per_s_citus": "≥ 0.5× PostgreSQL", "shards_per_school_query": "1"}
    table = _figures_table(f"mektep bench scale ({schools} schools of {students})", figures, goals, digits=3)
    ratio = figures["ingest_events_per_s_citus"] / figures["ingest_events_per_s_postgres"]
    table.add_row("ingest: Citus / one PostgreSQL server", f"{ratio:.2f}×", "≥ 0.5×")
    table.add_row(
        "region report: Citus / one PostgreSQL server",
        f"{figures['region_report_s_citus'] / figures['region_report_s_postgres']:.2f}×",
        "",
    )
    Console().print(table)
    Console().print(
        f"National extrapolation: {figures['events_per_s_per_worker']:,.0f} events/s per worker measured here "
        f"(Citus ingest / {figures['citus_workers']} workers, all on this {_cores()}-core machine with the "
        f"coordinator, the API and the load). The morning peak of {NATIONAL_PEAK_EVENTS_PER_S:,} events/s "
        f"with {HEADROOM}× headroom needs {figures['workers_for_national_peak']} such workers; on machines of "
        "their own each worker takes more, so this is an upper bound."
    )
    if json_output:
        print(json.dumps(figures))


@app.command()
def office(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    students: int = typer.Option(3000, min=100, help="Students of the school (and 5 % staff)."),
) -> None:
    """Measure the school office's pages for a big school with a month of events, against /healthz.

    Example:
        mektep bench office --json
    """
    figures = bench_office(students=students)
    goals = {
        "today_p95_ms": "≤ 250",
        "people_p95_ms": "≤ 250",
        "person_p95_ms": "≤ 250",
        "journal_p95_ms": "≤ 250",
        "ratings_month_p95_ms": "≤ 250",
        "import_preview_s": "≤ 3",
        "export_s": "≤ 30",
        "statement_p95_ms": "≤ 250",
        "menu_week_p95_ms": "≤ 250",
        "region_page_p95_ms": "≤ 250",
    }
    table = _figures_table(f"mektep bench office ({students} students, {figures['events']:,} events)", figures, goals)
    for page in ("today", "people", "person", "journal"):
        ratio = figures[f"{page}_p95_ms"] / max(figures["healthz_p95_ms"], 1e-9)
        table.add_row(f"{page} p95 / healthz p95", f"{ratio:.1f}×", "")
    Console().print(table)
    if json_output:
        print(json.dumps(figures))


@app.command("sign-in")
def sign_in(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    attempts: int = typer.Option(200, min=10, help="Sign-ins with wrong passwords, each on a login of its own."),
    concurrency: int = typer.Option(40, min=1, help="Attempts in flight at once."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the unbounded server."),
) -> None:
    """Measure a flood of wrong passwords: sign-ins/s, the server's memory, and /healthz meanwhile.

    Example:
        mektep bench sign-in --json
    """
    figures = bench_sign_in(attempts=attempts, concurrency=concurrency, baseline=not no_baseline)
    goals = {"server_rss_growth_mib": "≤ 256", "healthz_p95_ms_during": "≤ 3× idle"}
    shown = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    table = _figures_table(f"mektep bench sign-in ({attempts} attempts, {concurrency} at once)", shown, goals)
    table.add_row(
        "/healthz p95: during the flood / idle",
        f"{figures['healthz_p95_ms_during'] / figures['healthz_p95_ms_idle']:.2f}×",
        "≤ 3×",
    )
    if "baseline_server_rss_growth_mib" in figures:
        table.add_row(
            "memory growth: bounded / unbounded hashing",
            f"{figures['server_rss_growth_mib'] / max(figures['baseline_server_rss_growth_mib'], 1e-9):.2f}×",
            "",
        )
    Console().print(table)
    unbounded = f"; unbounded {figures['baseline_answers']}" if "baseline_answers" in figures else ""
    Console().print(f"Answers by HTTP status: bounded {figures['answers']}{unbounded}")
    if json_output:
        print(json.dumps(figures))


def _cores() -> int:
    import os

    return os.cpu_count() or 1


@app.command()
def ingest(
    database_url: str | None = typer.Option(None, help="Database to fill [default: a temporary SQLite file]."),
    batches: int = typer.Option(40, min=1, help="Batches each gateway sends."),
    batch_size: int = typer.Option(500, min=1, max=1000, help="Events per batch."),
    clients: int = typer.Option(1, min=1, help="Gateways sending at once."),
) -> None:
    """Measure the cloud's ingest rate over real HTTP against a `mektep cloud serve` process.

    Example:
        mektep bench ingest --batches 40 --batch-size 500 --clients 4
    """
    rate = run_ingest_bench(database_url, batches=batches, batch_size=batch_size, clients=clients)
    typer.echo(
        f"{rate.events} events in {rate.batches} batches from {rate.clients} gateway(s) in {rate.seconds:.2f} s: "
        f"{rate.events_per_second:,.0f} events/s"
    )


@app.command()
def fleet(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    database_url: str | None = typer.Option(None, help="Database to fill [default: a temporary SQLite file]."),
    gateways: int = typer.Option(2000, min=100, help="Simulated gateways, each with its school and key."),
    rounds: int = typer.Option(3, min=1, help="Heartbeats each gateway sends (time compressed)."),
    clients: int = typer.Option(4, min=1, help="Client processes sending at once."),
) -> None:
    """Measure the fleet: heartbeats/s stored by one cloud process, the deployment's fleet page, alert latency.

    Example:
        mektep bench fleet --json
    """
    from mektep.fleet_bench import bench_fleet

    figures = bench_fleet(database_url, gateways_n=gateways, rounds=rounds, clients=clients)
    goals = {
        "heartbeats_per_s": "≥ 500",
        "fleet_page_p95_ms": "≤ 300",
        "alert_latency_p95_s": "≤ 60 after the window",
        "false_alerts": "0",
    }
    shown = {k: ("null" if v is None else v) for k, v in figures.items() if not isinstance(v, dict)}
    table = _figures_table(f"mektep bench fleet ({gateways:,} gateways, {figures['database']})", shown, goals)
    table.add_row("heartbeats/s / healthz/s", f"{figures['heartbeats_per_s'] / figures['healthz_per_s']:.2f}×", "")
    table.add_row(
        "fleet page p95 / healthz p95", f"{figures['fleet_page_p95_ms'] / figures['healthz_p95_ms']:.1f}×", ""
    )
    Console().print(table)
    Console().print(f"Gateways by state on the fleet page: {figures['fleet_counts']}")
    if json_output:
        print(json.dumps(figures))


@app.command()
def integrations(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    database_url: str | None = typer.Option(None, help="Database to fill [default: a temporary SQLite file]."),
    students: int = typer.Option(3000, min=10, help="Students of the school whose morning goes to a webhook receiver."),
    rush: float = typer.Option(60.0, min=1, help="Seconds the morning's entries are spread over."),
    sign_ins: int = typer.Option(300, min=1, help="Whole single sign-on flows to run."),
    clients: int = typer.Option(4, min=1, help="Platforms signing students in at once."),
) -> None:
    """Measure the integrations: ID tokens issued per second, webhooks per second and a tap's webhook lag.

    Single sign-on: whole authorization code flows (PKCE, token, ID token verified against the JWKS)
    against a `mektep cloud serve`, beside pairs of /healthz on as many threads (a flow is two
    requests). Webhooks: a school's morning rush to a verifying receiver (the lag), then every
    student's exit at once (the rate), beside the same messages posted straight to the receiver.

    Example:
        mektep bench integrations --json
    """
    from mektep.oidc_bench import measure_oidc_sign_ins
    from mektep.webhook_bench import measure_webhooks

    sign_in = measure_oidc_sign_ins(sign_ins=sign_ins, clients=clients, database_url=database_url)
    hooks = measure_webhooks(students=students, rush_s=rush, database_url=database_url)
    figures: dict[str, Any] = {
        "oidc_sign_ins_per_s": round(sign_in["oidc_sign_ins_per_s"], 1),
        "oidc_sign_in_p95_ms": sign_in["oidc_sign_in_p95_ms"] and round(sign_in["oidc_sign_in_p95_ms"], 1),
        "webhooks_per_s": hooks["webhooks_per_s"],
        "webhook_lag_p95_s": hooks["webhook_lag_p95_s"],
        "webhook_lag_p50_s": hooks["webhook_lag_p50_s"],
        "healthz_pairs_per_s": round(sign_in["healthz_pairs_per_s"], 1),
        "receiver_direct_per_s": hooks["receiver_direct_per_s"],
        "oidc_sign_ins": sign_in["oidc_sign_ins"],
        "oidc_failures": sign_in["oidc_failures"],
        "webhooks": hooks["webhooks"],
        "webhooks_in_order": hooks["webhooks_in_order"],
        "refused_by_receiver": hooks["refused_by_receiver"],
        "students": hooks["students"],
        "database": "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite",
    }
    goals = {"webhooks_per_s": "≥ 300", "webhook_lag_p95_s": "≤ 2", "oidc_failures": "0", "webhooks_in_order": "True"}
    shown = {k: v for k, v in figures.items() if k != "database"}
    table = _figures_table(f"mektep bench integrations ({students:,} students, {figures['database']})", shown, goals)
    table.add_row(
        "sign-ins/s / healthz pairs/s", f"{figures['oidc_sign_ins_per_s'] / figures['healthz_pairs_per_s']:.2f}×", ""
    )
    table.add_row(
        "webhooks/s / direct posts/s", f"{figures['webhooks_per_s'] / figures['receiver_direct_per_s']:.2f}×", ""
    )
    Console().print(table)
    if "oidc_failure_example" in sign_in:
        Console().print(f"A failed sign-in: {sign_in['oidc_failure_example']}")
    if json_output:
        print(json.dumps(figures))
