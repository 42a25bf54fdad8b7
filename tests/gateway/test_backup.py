"""`mektep gateway backup` copies a running gateway: taps go on committing, the copy is whole and sound."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

from typer.testing import CliRunner

from gateway.backup import backup_gateway
from gateway.roster.photos import migrate as migrate_photos
from gateway.roster.photos import store
from gateway.taps.outbox import Outbox, open_database
from mektep.cli import app
from tests.gateway.factories import drafts

SITE = Path("firmware_configs/sites/demo-school.yaml")
PROFILES = ["--profiles", "firmware_configs/profiles"]


def _gateway_database(path: Path, *, events: int, photos: int) -> None:
    db = open_database(path)
    migrate_photos(db)
    for _ in range(photos):
        data = os.urandom(8192)
        store(db, hashlib.sha256(data).hexdigest(), "image/jpeg", data)
    Outbox(db).record(drafts(events))
    db.close()


def test_a_backup_of_a_tapping_gateway_holds_every_tap_up_to_its_moment(tmp_path: Path) -> None:
    live = tmp_path / "gateway.db"
    _gateway_database(live, events=200, photos=300)  # ~2.5 MiB: a few hundred small steps
    tapped: list[int] = []
    failures: list[BaseException] = []
    backing_up = threading.Event()
    taps_while_copying = threading.Semaphore(0)
    stop = threading.Event()

    def tap() -> None:
        # The gateway's own outbox, on its own connection, as the gateway's storage thread runs it.
        outbox = Outbox(open_database(live))
        try:
            while not stop.is_set():
                tapped.extend(r.seq for r in outbox.record(drafts(1)))
                if backing_up.is_set():
                    taps_while_copying.release()
        except BaseException as exc:  # the test reports any failure of a tap
            failures.append(exc)
        finally:
            outbox.db.close()

    tapper = threading.Thread(target=tap)
    tapper.start()
    try:
        backing_up.set()
        done = backup_gateway(live, tmp_path / "copy.db", pages=8, sleep=0.001)
        backing_up.clear()
        for _ in range(5):  # and the gateway goes on after the copy
            assert taps_while_copying.acquire(timeout=10)
    finally:
        stop.set()
        tapper.join()

    assert not failures
    assert done.steps > 10  # copied in small steps, not in one
    with sqlite3.connect(live) as db:
        live_rows = dict(db.execute("SELECT seq, body FROM events"))
    # Every tap committed on the live gateway, none lost to the copy.
    assert sorted(tapped) == list(range(201, 201 + len(tapped)))
    assert len(live_rows) == 200 + len(tapped)
    with sqlite3.connect(done.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = dict(db.execute("SELECT seq, body FROM events"))
        high_water = db.execute("SELECT seq FROM seq_high_water").fetchone()[0]
        photos = db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    # The copy is one moment of the live database: its events are the first ones, whole, with its
    # own high-water mark, and some taps came after it.
    assert copied == {seq: live_rows[seq] for seq in range(1, len(copied) + 1)}
    assert high_water == len(copied) == done.events == done.last_seq
    assert 200 <= len(copied) < len(live_rows)
    assert photos == done.photos == 300


def test_the_command_copies_the_gateway_its_site_file_names(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE.read_text().replace("data_dir: var/gateway", f"data_dir: {tmp_path / 'data'}"))
    runner = CliRunner()
    missing = runner.invoke(app, ["gateway", "backup", "--config", str(site), *PROFILES, str(tmp_path / "copy.db")])
    assert missing.exit_code == 1
    assert "no gateway database there" in missing.output
    assert not (tmp_path / "copy.db").exists()

    _gateway_database(tmp_path / "data" / "gateway.db", events=3, photos=1)
    result = runner.invoke(app, ["gateway", "backup", "--config", str(site), *PROFILES, str(tmp_path / "copy.db")])
    assert result.exit_code == 0, result.output
    assert "3 events (last seq 3, 3 undelivered), 1 photos" in result.output
    assert "integrity ok" in result.output


def test_a_file_that_is_not_a_gateway_database_is_refused_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "gateway.db"
    junk.write_bytes(b"not a database at all" * 100)
    runner = CliRunner()
    site = tmp_path / "site.yaml"
    site.write_text(SITE.read_text().replace("data_dir: var/gateway", f"data_dir: {tmp_path}"))
    result = runner.invoke(app, ["gateway", "backup", "--config", str(site), *PROFILES, str(tmp_path / "copy.db")])
    assert result.exit_code == 1
    assert "the copy failed: file is not a database" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "copy.db").exists()
