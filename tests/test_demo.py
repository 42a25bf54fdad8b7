"""`make demo` works: a short school morning, with a cloud outage, ends with everything delivered once; served,
it prints every role's door, each opens with what it prints, and SIGTERM stops every child as Ctrl-C does."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil
import pyotp
import pytest
from rich.console import Console

import mektep.demo
import simulators.broker
from mektep.demo import run_demo
from tests.conftest import MOSQUITTO_MISSING, mosquitto_path, need


def test_demo_command_plays_a_morning_and_exits_0() -> None:
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    mektep = Path(sys.executable).parent / "mektep"
    done = subprocess.run(
        [str(mektep), "demo", "--minutes", "0.1", "--students", "8"],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every recorded event reached the cloud exactly once" in done.stdout
    assert "embedded" not in done.stdout
    assert "meals " in done.stdout and "attendance " in done.stdout and " v1 issued" in done.stdout  # the month so far


def test_demo_without_mosquitto_says_how_to_install_it_and_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulators.broker, "find_mosquitto", lambda: None)
    monkeypatch.setattr(mektep.demo, "find_mosquitto", lambda: None)
    console = Console(record=True, width=160)
    assert run_demo(0.1, 8, tmp_path, console)
    shown = console.export_text()
    assert "apt-get install mosquitto" in shown and "embedded Python broker" in shown
    # 8 students enter and leave, most lunch: every tap is in the summary's "taps played".
    assert "Summary" in shown


@contextmanager
def served_demo() -> Iterator[tuple[subprocess.Popen[str], list[str], threading.Thread]]:
    """``mektep demo --serve`` as a visitor runs it, up once it prints where to browse: the process, its
    output (growing), and the thread that reads it (it ends with the output).

    Killed with its children at the end, whatever the test did, so that a failing test leaves nothing running.
    """
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    mektep = Path(sys.executable).parent / "mektep"
    demo = subprocess.Popen(
        [str(mektep), "demo", "--serve", "--minutes", "0.1", "--students", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    lines: list[str] = []

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)

    # Read on a thread, so that the test waits for a line with a deadline rather than on a silent pipe.
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = psutil.Process(demo.pid)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while not any("API docs" in line for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.2)
        # Kept now: a demo that dies leaves its children to init, where children() no longer finds them.
        children = started.children(recursive=True)
        yield demo, lines, reader
    finally:
        left = started.children(recursive=True) if started.is_running() else []
        for proc in [*children, *left, started]:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        demo.wait(10)


def _printed(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    assert found is not None, f"{pattern!r} not in the demo's output:\n{text[-3000:]}"
    return found.group(1)


def _office_step(client: httpx.Client, login: str, password: str) -> str:
    """The office's sign-in form with a printed login and password: the next step it sends the reader to."""
    form = {"login": login, "password": password, "lang": "ru"}
    answer = client.post("/office/sign-in", data=form, headers={"Origin": str(client.base_url).rstrip("/")})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_every_door_the_served_demo_prints_opens_with_what_it_prints_and_sigterm_stops_it_all() -> None:
    with served_demo() as (demo, lines, reader):
        children = psutil.Process(demo.pid).children(recursive=True)
        text = "".join(lines)
        url = r"(http://127\.0\.0\.1:\d+{})"
        office = _printed(r"^The office +" + url.format("/office/sign-in"), text)
        cloud = office.removesuffix("/office/sign-in")
        password = _printed(r"has the password +(\S+)$", text)
        logins = {
            role: _printed(rf"^  {role} +(\S+) ", text)
            for role in ("school admin", "secretary", "cook", "region analyst")
        }
        secret = _printed(r"add the key ([A-Z2-7]+) by hand", text)
        assert pyotp.parse_uri(_printed(r"^  (otpauth://\S+)$", text)).secret == secret
        # Each printed page answers.
        pages = {
            "parent app": _printed(r"^The parent app +" + url.format("/app/sign-in"), text),
            "canteen": _printed(r"^The canteen screen +" + url.format("/canteen"), text),
            "events": _printed(r"^The gateway's events +" + url.format("/"), text),
            "docs": _printed(r"^API docs +" + url.format("/docs"), text),
        }
        for name, page in {"office": office, **pages}.items():
            assert httpx.get(page, timeout=10).status_code == 200, name
        canteen = httpx.get(pages["canteen"], timeout=10).text
        assert _printed(r"choose (.+) \(the cook\)", text) in canteen  # the name in the staff list
        assert re.search(r"\(the cook\), PIN \d{4}$", text, re.MULTILINE)
        with httpx.Client(base_url=cloud, timeout=10) as client:
            # The admin: password, then the code of the printed secret, then the school's reports.
            assert _office_step(client, logins["school admin"], password) == "/office/sign-in/code"
            code = client.post(
                "/office/sign-in/code", data={"code": pyotp.TOTP(secret).now()}, headers={"Origin": cloud}
            )
            assert code.status_code == 303 and code.headers["location"] == "/office/", code.text
            reports = _printed(r"^  the school's reports +" + url.format(r"/office/schools/[\w-]+/reports"), text)
            assert client.get(reports).status_code == 200
            # The gateway's page: its first heartbeat came as it started.
            fleet = _printed(r"^  the gateway, readers +" + url.format(r"/office/schools/[\w-]+/fleet"), text)
            page = client.get(fleet)
            assert page.status_code == 200 and "gw-demo-1" in page.text, page.text[-2000:]
            alerts = _printed(r"^  alerts +" + url.format(r"/office/schools/[\w-]+/alerts"), text)
            assert client.get(alerts).status_code == 200
            day = _printed(r"^  the school day +" + url.format(r"/office/schools/[\w-]+/school-day"), text)
            assert client.get(day).status_code == 200
        for role in ("secretary", "cook", "region analyst"):  # their first sign-in sets up the app, as printed
            with httpx.Client(base_url=cloud, timeout=10) as client:
                assert _office_step(client, logins[role], password) == "/office/sign-in/enrol", role
        # The analyst's, through to the region's month: the key from the set-up page, its first code.
        with httpx.Client(base_url=cloud, timeout=10) as client:
            assert _office_step(client, logins["region analyst"], password) == "/office/sign-in/enrol"
            key = _printed(r'<code class="secret">([A-Z2-7]+)</code>', client.get("/office/sign-in/enrol").text)
            confirmed = client.post(
                "/office/sign-in/enrol", data={"code": pyotp.TOTP(key).now()}, headers={"Origin": cloud}
            )
            assert confirmed.status_code == 200, confirmed.text
            schools = _printed(
                r"^  the region's schools +" + url.format(r"/office/regions/\w+/schools\?month=[\d-]+"), text
            )
            sums = _printed(r"^  the region's sums +" + url.format(r"/office/regions/\w+/sums\?month=[\d-]+"), text)
            assert client.get(schools).status_code == 200 and client.get(sums).status_code == 200
            gateways = _printed(r"^  the region's gateways +" + url.format(r"/office/regions/\w+/fleet"), text)
            assert client.get(gateways).status_code == 200
            systems = _printed(r"^  outside systems +" + url.format(r"/office/regions/\w+/integrations"), text)
            assert client.get(systems).status_code == 200
        discovery = _printed(r"^Single sign-on +" + url.format(r"/oidc/\.well-known/openid-configuration"), text)
        assert httpx.get(discovery, timeout=10).json()["issuer"] == cloud + "/oidc"
        guardian = _printed(r"^  guardian +(\S+) ", text)
        form = {"login": guardian, "password": password, "lang": "ru"}
        with httpx.Client(base_url=cloud, timeout=10) as client:
            home = client.post("/app/sign-in", data=form, headers={"Origin": cloud})
            assert home.status_code == 303 and home.headers["location"] == "/app/"
        # The student, at the same door, lands on her own pages.
        assert _printed(r"^The student's pages +" + url.format("/app/sign-in"), text) == pages["parent app"]
        student = {"login": _printed(r"^  student +(\S+) ", text), "password": password, "lang": "ru"}
        with httpx.Client(base_url=cloud, timeout=10) as client:
            assert client.post("/app/sign-in", data=student, headers={"Origin": cloud}).status_code == 303
            assert "/app/resources" in client.get("/app/").text  # the student's navigation, not the parent's
        # The roll call: at the gateway itself (loopback) no sign-in (the morning ends with everyone gone).
        roll_call = httpx.get(_printed(r"^The roll call +" + url.format("/roll-call"), text), timeout=10)
        assert roll_call.status_code == 200 and "<h1" in roll_call.text
        # Then SIGTERM stops every child process, as Ctrl-C does (one demo for both: it takes a minute).
        commands = [" ".join(child.cmdline()) for child in children]
        for part in ("cloud serve", "gateway run", "mosquitto"):
            assert any(part in command for command in commands), commands
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 143, "".join(lines)[-3000:]
        reader.join(10)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        assert any("every child process was stopped" in line for line in lines)
