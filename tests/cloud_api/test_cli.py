"""``mektep cloud ...``: each command over its library function; ``serve`` as a real process."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cloud_api.cli import app
from cloud_api.db.engine import make_engine
from cloud_api.db.schema import gateways, schools
from shared.contract import INGEST_PATH
from tests.cloud_api.helpers import ADMIN, KEY, admin, batch_body, event, signed

runner = CliRunner()


def test_init_makes_the_vapid_key_once(database_url: str) -> None:
    first = runner.invoke(app, ["init", "--database-url", database_url])
    assert first.exit_code == 0, first.output
    assert "(new)" in first.output
    public = first.output.split(": ", 1)[1].strip()
    again = runner.invoke(app, ["init", "--database-url", database_url])
    assert again.exit_code == 0 and "(kept)" in again.output and again.output.strip().endswith(public)
    assert len(base64.urlsafe_b64decode(public + "==")) == 65  # an uncompressed P-256 point


def test_gateway_add_registers_then_rotates(database_url: str) -> None:
    env = {"GW_KEY": KEY}
    result = runner.invoke(
        app, ["gateway-add", "gw1", "--school", "s1", "--key-env", "GW_KEY", "--database-url", database_url], env=env
    )
    assert result.exit_code == 0, result.output
    assert "registered" in result.output
    env = {"GW_KEY": "the-rotated-gateway-key"}
    result = runner.invoke(
        app, ["gateway-add", "gw1", "--school", "s1", "--key-env", "GW_KEY", "--database-url", database_url], env=env
    )
    assert result.exit_code == 0 and "rotated" in result.output
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(select(gateways.c.key)).scalar_one() == "the-rotated-gateway-key"
    engine.dispose()
    moved = runner.invoke(
        app, ["gateway-add", "gw1", "--school", "s2", "--key-env", "GW_KEY", "--database-url", database_url], env=env
    )
    assert moved.exit_code == 2 and "belongs to school" in moved.output


def test_school_add_places_then_moves_a_school(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    for region in ("almaty", "abay"):
        result = runner.invoke(app, ["school-add", "s1", "--name", "№ 17", "--region", region, "--database-url", url])
        assert result.exit_code == 0 and f"region {region}" in result.output, result.output
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(schools.c.school_id, schools.c.name, schools.c.region_id)).all() == [
            ("s1", "№ 17", "abay")
        ]
    engine.dispose()
    formula = runner.invoke(
        app,
        ["school-add", "s2", "--name", '=HYPERLINK("x")', "--region", "abay", "--database-url", url],
        env={"COLUMNS": "200"},
    )
    assert formula.exit_code == 2 and "spreadsheet formula" in formula.output  # the region's CSV lists names
    with engine.connect() as conn:
        assert conn.execute(select(schools.c.school_id)).scalars().all() == ["s1"]
    engine.dispose()


def test_gateway_add_needs_the_key_in_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = runner.invoke(
        app,
        ["gateway-add", "gw1", "--school", "s1", "--key-env", "NOT_SET_ANYWHERE", "--database-url", url],
        env={"NOT_SET_ANYWHERE": ""},
    )
    assert result.exit_code == 2 and "NOT_SET_ANYWHERE" in result.output


def test_migrate_and_prune_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'c.db'}"
    assert runner.invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    result = runner.invoke(app, ["prune-journal", "--database-url", url, "--days", "30"])
    assert result.exit_code == 0 and "0 packets removed" in result.output


def test_production_without_a_token_is_a_clear_error(tmp_path: Path) -> None:
    env = {"MEKTEP_CLOUD_ENVIRONMENT": "production", "MEKTEP_CLOUD_ADMIN_TOKEN": ""}
    result = runner.invoke(app, ["migrate", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"], env=env)
    assert result.exit_code == 2 and "MEKTEP_CLOUD_ADMIN_TOKEN" in result.output


def test_every_command_has_an_example() -> None:
    for command in app.registered_commands:
        assert command.callback is not None and "Example:" in (command.callback.__doc__ or ""), command.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``mektep cloud serve`` in its own process group on a free port; its base URL."""
    port = _free_port()
    env = {**os.environ, "MEKTEP_CLOUD_ADMIN_TOKEN": ADMIN, "MEKTEP_CLOUD_ENVIRONMENT": "development"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mektep.cli", "cloud", "serve", "--database-url", database_url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_serve_takes_a_signed_batch_over_real_http(served: str, database_url: str) -> None:
    # Registered through the CLI while the server runs: the server reads keys from the database.
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "mektep.cli",
            "cloud",
            "gateway-add",
            "gw1",
            "--school",
            "s1",
            "--key-env",
            "GW_KEY",
            "--database-url",
            database_url,
        ],
        env={**os.environ, "GW_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    evs = [event(1, at="2026-11-21T02:00:00+05:00"), event(2, at="2026-11-20T23:30:00+05:00")]
    body = batch_body(evs)
    with httpx.Client(base_url=served, timeout=10) as client:
        headers = signed(body)
        r = client.post(INGEST_PATH, content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["accepted", "accepted"]
        replayed = client.post(INGEST_PATH, content=body, headers=headers)
        assert (replayed.status_code, replayed.json()["detail"]["code"]) == (401, "replayed")
        resigned = client.post(INGEST_PATH, content=body, headers=signed(body, ts=int(time.time()) + 1))
        assert [x["status"] for x in resigned.json()["results"]] == ["duplicate", "duplicate"]
        day = client.get("/v1/schools/s1/events", params={"date": "2026-11-21"}, headers=admin())
        assert [e["seq"] for e in day.json()] == [1]
        too_big = client.post(INGEST_PATH, content=b"x" * (4 * 1024 * 1024 + 1), headers=signed(b""))
        assert too_big.status_code == 413
        assert "mektep_ingest_refused_total" in client.get("/metrics").text
