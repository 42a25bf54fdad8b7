"""``mektep demo``: the whole system on one machine, a school morning, with a live view.

Starts a broker, the cloud (SQLite) and one gateway as real processes, readers on pseudo-terminals
and a canteen terminal over MQTT. The school is set up first (a generated NEDB roster, cards,
consents, today's lunch, an admin and a guardian account); then it plays students entering, a lunch
queue and students leaving; cuts the cloud off in the middle and shows the backlog drain when it
returns; and issues the month's reports so far. Exits 0 when every event the gateway recorded is in
the cloud. With ``--serve`` everything stays up afterwards to be browsed: it prints each role's
door and how to enter it (:func:`print_doors`): the office as the school admin (its authenticator
app set up already, shown as a QR code), a secretary, the cook and a region analyst; the parent
app as a guardian; the gateway's canteen screen and events page.
"""

from __future__ import annotations

import io
import random
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import segno
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mektep.demo_school import DemoSchool, seed_school
from mektep.processes import CloudProcess, GatewayProcess, Terminated, sigterm_raises, write_site
from simulators.broker import INSTALL_HINT, find_mosquitto, start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.serial_reader import SerialReaderSim

__all__ = ["app", "print_doors", "run_demo"]

app = typer.Typer(help="Run the whole system on this machine.", add_completion=False, invoke_without_command=True)
SCHOOL, GATEWAY = "demo-school", "gw-demo-1"
FIRST_SIGN_IN = "the first sign-in sets up the authenticator app from a QR code"


def _view(phase: str, status: dict[str, object], rate: float, cloud_up: bool, page: str) -> Table:
    p, o = status.get("pipeline", {}), status.get("outbox", {})
    table = Table(title=f"Mektep Gate demo — {phase}", caption=f"page: {page}")
    for column in ("taps/s", "granted", "denied", "buffered", "delivered", "cloud"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{rate:.1f}",
        str(p.get("granted", 0)),
        str(p.get("denied", 0)),  # type: ignore[union-attr]
        str(o.get("pending", 0)),
        str(o.get("delivered", 0)),  # type: ignore[union-attr]
        "[green]up[/]" if cloud_up else "[red]cut off[/]",
    )
    return table


def print_doors(console: Console, cloud: CloudProcess, gateway: GatewayProcess, school: DemoSchool, month: str) -> None:
    """Where each role comes in and with what: the office, the parent app, the canteen screen.

    URLs are printed whole (``soft_wrap``) so that a narrow terminal does not break them when copied.
    The admin's authenticator is set up already and printed as a QR code; the other staff set theirs
    up at their first sign-in, from the QR code the office shows them.
    """
    admin, analyst = school.admin, school.analyst
    assert admin.authenticator is not None
    out = console.print
    out("\n[bold]Browse it[/] (Ctrl-C or SIGTERM stops everything)", soft_wrap=True)
    out(
        "\nThe school admin's authenticator app is set up already: scan this QR code with any authenticator "
        f"app on a phone (Google Authenticator, Microsoft Authenticator, FreeOTP...), or add the key "
        f"{admin.authenticator.secret} by hand.",
        soft_wrap=True,
    )
    # Half blocks, no colour codes: a QR code of 25 lines that any terminal shows and a phone reads.
    qr = io.StringIO()
    segno.make(admin.authenticator.uri, error="l").terminal(out=qr, compact=True, border=2)
    console.out(qr.getvalue().rstrip("\n"), highlight=False)
    out(f"  {admin.authenticator.uri}", soft_wrap=True, highlight=False)
    out(f"\nEvery account below has the password  {admin.password}", soft_wrap=True, highlight=False)
    staff = [
        ("school admin", admin.login, "second factor: the code of the app set up above"),
        ("secretary", school.secretary.login, "a second school admin; " + FIRST_SIGN_IN),
        ("cook", school.cook.login, "canteen staff; " + FIRST_SIGN_IN),
        ("region analyst", analyst.login, f"region {school.region}; " + FIRST_SIGN_IN),
    ]
    lines = [f"\n[bold]The office[/]          {cloud.url}/office/sign-in   (staff: the password, then a code)"]
    lines += [f"  {role:<18}{login:<28}{how}" for role, login, how in staff]
    lines += [
        f"  the school's day       {cloud.url}/office/schools/{SCHOOL}/today   (every staff member)",
        f"  the school's reports   {cloud.url}/office/schools/{SCHOOL}/reports   (as the admin or the secretary)",
        f"  the canteen's day      {cloud.url}/office/schools/{SCHOOL}/canteen   (the cook sets a canteen PIN there)",
        f"  the week's menu        {cloud.url}/office/schools/{SCHOOL}/canteen/menu   (the admin or the cook)",
        f"  money                  {cloud.url}/office/schools/{SCHOOL}/money   (balances, statements, top-ups)",
        f"  the school day         {cloud.url}/office/schools/{SCHOOL}/school-day"
        "   (the admin: start, end and grace, for the parents' absence notices)",
        f"  ratings                {cloud.url}/office/schools/{SCHOOL}/ratings   (what families rated)",
        f"  the Social Wallet      {cloud.url}/office/schools/{SCHOOL}/wallet   (as the admin or the secretary)",
        f"  the region's schools   {cloud.url}/office/regions/{school.region}/schools?month={month}"
        "   (as the region analyst)",
        f"  the region's sums      {cloud.url}/office/regions/{school.region}/sums?month={month}",
        f"  the gateway, readers   {cloud.url}/office/schools/{SCHOOL}/fleet   (the admin or the school's IT contact)",
        f"  alerts                 {cloud.url}/office/schools/{SCHOOL}/alerts   (sent by e-mail and push as well)",
        f"  the region's gateways  {cloud.url}/office/regions/{school.region}/fleet   (as the region analyst)",
        f"  outside systems        {cloud.url}/office/regions/{school.region}/integrations"
        "   (as the region analyst: register an e-diary or an e-textbook platform)",
        f"  who reads the school   {cloud.url}/office/schools/{SCHOOL}/integrations   (as the admin)",
        f"[bold]The parent app[/]      {cloud.url}/app/sign-in",
        f"  {'guardian':<18}{school.guardian.login:<28}no second factor unless they turn it on",
        f"[bold]The student's pages[/] {cloud.url}/app/sign-in   (the same door: her day, the menu, rating, resources)",
        f"  {'student':<18}{school.student.login:<28}the guardian's child",
        f"[bold]The canteen screen[/]  {gateway.url}/canteen   (the gateway, on the school's network: no sign-in)",
        f"  a child served by hand: choose {school.cook_name} (the cook), PIN {school.canteen_pin}",
        f"[bold]The gateway's events[/] {gateway.url}/",
        f"[bold]The roll call[/]       {gateway.url}/roll-call   (an evacuation's list, offline; the cook's PIN)",
        f"[bold]Single sign-on[/]      {cloud.url}/oidc/.well-known/openid-configuration"
        "   (students into e-textbook platforms; OpenID Connect)",
        f"[bold]API docs[/]            {cloud.url}/docs   (outside systems: a token at /v1/oauth/token)",
    ]
    out("\n".join(lines), soft_wrap=True, highlight=False)


def _serve(cloud: CloudProcess, gateway: GatewayProcess) -> None:
    """Keep everything up to be browsed, until Ctrl-C or SIGTERM (or a child dies)."""
    while cloud.running and gateway.running:
        time.sleep(1)


def run_demo(minutes: float, students: int, workdir: Path, console: Console, serve: bool = False) -> bool:
    """Play a school morning; True when every recorded event reached the cloud."""
    rng = random.Random(2026)
    if find_mosquitto() is None:
        console.print(f"[yellow]{INSTALL_HINT}[/]\nThe demo goes on with the embedded Python broker (amqtt).")
    broker = start_broker(allow_embedded=True, workdir=workdir / "broker")
    cloud = CloudProcess(workdir / "cloud")
    entry, exit_ = SerialReaderSim(workdir / "ttyIN", seed=1), SerialReaderSim(workdir / "ttyOUT", seed=2)
    env = write_site(
        workdir / "gateway" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=workdir / "gateway" / "data",
        mqtt_port=broker.port,
        terminals=["canteen-1"],
        readers=[
            {"id": "turnstile-1-in", "framing": "em4100", "port": str(entry.link), "direction": "entry"},
            {"id": "turnstile-1-out", "framing": "em4100", "port": str(exit_.link), "direction": "exit"},
        ],
    )
    gateway = GatewayProcess(workdir / "gateway" / "site.yaml", env)
    terminal = None
    try:
        cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
        school = seed_school(cloud.database_url, SCHOOL, students, env["MEKTEP_CREDENTIAL_KEY"].encode(), rng)
        cloud.start_and_wait()
        gateway.start_and_wait()
        gateway.wait_for_roster(30)
        terminal = CanteenTerminalSim("127.0.0.1", broker.port, school=SCHOOL, device="canteen-1")
        terminal.wait_connected()
        cards = school.cards
        # The morning as a list of (phase, action): entries, lunch, exits, spread over the time given.
        plan = [("entering", entry, c) for c in cards]
        plan += [("lunch queue", terminal, c) for c in cards if rng.random() < 0.8]
        plan += [("leaving", exit_, c) for c in cards]
        interval = max(minutes * 60 / len(plan), 0.002)
        cut_from, cut_to = int(len(plan) * 0.35), int(len(plan) * 0.6)
        last_total, last_t, rate = 0, time.monotonic(), 0.0
        with Live(console=console, refresh_per_second=4) as live:
            for i, (phase, device, card) in enumerate(plan):
                if i == cut_from:
                    cloud.stop()
                if i == cut_to:
                    cloud.start_and_wait()
                if isinstance(device, SerialReaderSim):
                    device.present(card)
                    if rng.random() < 0.03:
                        device.noise()
                else:
                    device.tap(card)
                time.sleep(interval)
                if i % 10 == 0 or i == len(plan) - 1:
                    status = gateway.status()
                    total = status["pipeline"]["reads"]  # type: ignore[index]
                    now = time.monotonic()
                    rate = (total - last_total) / max(now - last_t, 1e-6)
                    last_total, last_t = total, now
                    live.update(_view(phase, status, rate, cloud.running, gateway.url))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = gateway.status()
                live.update(_view("draining the backlog", status, 0.0, True, gateway.url))
                if status["outbox"]["pending"] == 0 and status["pipeline"]["reads"] >= len(plan) * 0.99:  # type: ignore[index]
                    break
                time.sleep(0.5)
        status = gateway.status()
        today = datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
        in_cloud = len(cloud.events(SCHOOL, today))
        recorded = status["outbox"]["recorded"]  # type: ignore[index]
        summary = Table(title="Summary")
        for column in ("taps played", "recorded at the gateway", "delivered", "in the cloud"):
            summary.add_column(column, justify="right")
        summary.add_row(str(len(plan)), str(recorded), str(status["outbox"]["delivered"]), str(in_cloud))  # type: ignore[index]
        console.print(summary)
        console.print(cloud.build_reports(SCHOOL, today[:7], workdir / "reports"))
        ok = bool(recorded == in_cloud and status["outbox"]["pending"] == 0)  # type: ignore[index]
        if ok:
            console.print("[green]every recorded event reached the cloud exactly once[/]")
        if serve:
            print_doors(console, cloud, gateway, school, today[:7])
            _serve(cloud, gateway)
        else:
            console.print("`mektep demo --serve` keeps it all up afterwards, and prints where each role signs in.")
        return ok
    finally:
        if terminal is not None:
            terminal.close()
        gateway.stop()
        cloud.stop()
        broker.stop()
        entry.close()
        exit_.close()


@app.callback()
def demo(
    minutes: float = typer.Option(2.0, help="How long the school morning lasts."),
    students: int = typer.Option(200, help="How many students tap."),
    keep: bool = typer.Option(False, help="Keep the working directory (logs, databases, reports)."),
    serve: bool = typer.Option(
        False, help="Afterwards keep everything up to browse and print each role's door, until Ctrl-C or SIGTERM."
    ),
) -> None:
    """Run the whole system on this machine and show a tap reach the cloud, offline or not.

    Example:
        mektep demo --minutes 1 --students 100
        mektep demo --serve        # then go in by the doors it prints: office, parent app, canteen screen
    """
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="mektep-demo-"))
    console.print(f"working directory: {workdir}")
    try:
        # SIGTERM (a service manager, `timeout`, `kill`) stops the children as Ctrl-C does.
        with sigterm_raises():
            ok = run_demo(minutes, students, workdir, console, serve)
    except KeyboardInterrupt:
        console.print("stopped; every child process was stopped")
        raise typer.Exit(130) from None
    except Terminated:
        console.print("terminated; every child process was stopped")
        raise typer.Exit(143) from None
    if not keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        console.print("[red]recorded and delivered differ[/]")
        raise typer.Exit(1)
