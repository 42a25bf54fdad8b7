"""`make demo` works: a short school morning, with a cloud outage, ends with everything delivered once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
