"""`make demo` works: a short school morning, with a cloud outage, ends with everything delivered once."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
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
    try:
        deadline = time.monotonic() + 180
        while not any("API docs" in line for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.2)
        yield demo, lines, reader
    finally:
        left = started.children(recursive=True) if started.is_running() else []
        for proc in [*left, started]:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        demo.wait(10)


def test_sigterm_stops_every_child_process_as_ctrl_c_does() -> None:
    with served_demo() as (demo, lines, reader):
        children = psutil.Process(demo.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        for part in ("cloud serve", "gateway run", "mosquitto"):
            assert any(part in command for command in commands), commands
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 143, "".join(lines)[-3000:]
        reader.join(10)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        assert any("every child process was stopped" in line for line in lines)
