"""A copy of a running gateway's database (events, roster, photos), taken without pausing taps.

``mektep gateway backup`` runs beside the gateway, as another process with its own connection.
It copies with SQLite's online backup API a few pages at a time (``pages``, ``sleep``), so that
the copy never holds the disk for long. Measured here, a stepwise copy alone never finishes
while taps come: the backup API starts over whenever *another* connection writes between two
steps, and the gateway writes on every tap (373 restarts in 3 s of taps, done only once the taps
stopped). So the copy first opens a read transaction on its connection and keeps it for every
step: in WAL mode that pins one snapshot, the steps copy that snapshot (no restart), and the
gateway's writers go on appending to the WAL meanwhile (a WAL reader never blocks a writer; only
the checkpoint waits behind the snapshot, and catches up once the copy is done).

The copy is written beside the target as ``*.partial`` and renamed once ``PRAGMA
integrity_check`` says ``ok`` on it, so a file with the target's name is always a whole copy.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BackupFailed", "GatewayBackup", "backup_gateway"]


class BackupFailed(Exception):
    """The copy could not be made or is not sound; the message says why, in a sentence."""


@dataclass(frozen=True, slots=True)
class GatewayBackup:
    """A finished copy: where it is and what it holds."""

    path: Path
    events: int
    last_seq: int
    pending: int
    photos: int
    size_bytes: int
    steps: int


def backup_gateway(database: Path, target: Path, *, pages: int = 256, sleep: float = 0.005) -> GatewayBackup:
    """Copy the gateway database ``database`` to ``target`` while the gateway keeps running.

    ``pages`` pages (4 KiB each) are copied per step with ``sleep`` seconds between steps, from one
    snapshot (see the module's docstring). Raises :class:`BackupFailed` when the database is
    missing or not a gateway's, or the copy fails its integrity check.
    """
    if not database.is_file():
        raise BackupFailed(f"{database}: no gateway database there (is data_dir in the site file right?)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    steps = 0

    def step(_status: int, _remaining: int, _total: int) -> None:
        nonlocal steps
        steps += 1

    try:
        # isolation_level=None: the transaction below is ours, not the module's implicit one.
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)) as src:
            src.execute("PRAGMA busy_timeout=5000")
            src.execute("BEGIN")
            # The first read starts the snapshot that every step then copies.
            src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            with contextlib.closing(sqlite3.connect(partial)) as dst:
                src.backup(dst, pages=pages, sleep=sleep, progress=step)
                # One file, not in WAL mode like the live one: readers leave no -wal, -shm beside it.
                dst.execute("PRAGMA journal_mode=DELETE")
            src.execute("ROLLBACK")
        summary = _check(partial)
    except sqlite3.DatabaseError as exc:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"{database}: the copy failed: {exc}") from None
    except BackupFailed:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    events, last_seq, pending, photos = summary
    return GatewayBackup(target, events, last_seq, pending, photos, target.stat().st_size, steps)


def _check(path: Path) -> tuple[int, int, int, int]:
    """Open the copy as a gateway would read it: integrity, then its events, high-water mark and photos."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupFailed(f"{path}: the copy is not sound: {verdict}")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"events", "seq_high_water"} <= tables:
            raise BackupFailed(f"{path}: not a gateway database (no events table)")
        events, pending = db.execute("SELECT COUNT(*), COALESCE(SUM(state = 0), 0) FROM events").fetchone()
        last_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM seq_high_water").fetchone()[0]
        photos = db.execute("SELECT COUNT(*) FROM photos").fetchone()[0] if "photos" in tables else 0
    return int(events), int(last_seq), int(pending), int(photos)
