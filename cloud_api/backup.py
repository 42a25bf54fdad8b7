"""Backups of the cloud's database, each proved by a restore: ``mektep cloud backup`` and ``restore``.

    backup(url, path)   PostgreSQL: ``pg_dump -Fc`` of one snapshot; SQLite: the online backup API.
                        The copy is then restored into a scratch database (PostgreSQL) or opened
                        (SQLite), and every table's row count and checksum is compared with the
                        source's *in the same snapshot*; only a copy that matches takes its name.
                        The sums go beside it in ``<file>.sums.json``.
    restore(path, url)  into an empty database, then the same comparison against those sums.

A table's checksum does not depend on the order of its rows: each row's text is hashed and the
hashes are added up (PostgreSQL: the first 60 bits of ``md5(row::text)``, summed as numeric, in
SQL on the server; SQLite: 64 bits of BLAKE2b of the row's values, summed modulo 2**64, here). A
changed, missing or extra row changes the sum.

PostgreSQL's consistency: the sums are read in a ``REPEATABLE READ`` transaction that exports its
snapshot, and ``pg_dump --snapshot`` dumps that very snapshot, so a live cloud's copy and its sums
agree. ``pg_dump`` and ``pg_restore`` must be of the server's major version: they are looked for
in ``/usr/lib/postgresql/<major>/bin`` (Debian), ``/usr/pgsql-<major>/bin`` (RPM) and on ``PATH``.

Citus: what holds, checked on Citus 13 here. ``pg_dump`` of the coordinator dumps every row (the
coordinator answers ``COPY`` of a distributed table from its shards), but the restored tables are
plain local tables (the distribution is not dumped), and the coordinator's snapshot does not
reach the workers: a dump taken while schools write is not one moment of the cluster. So on Citus
:func:`backup` first names a restore point on every node (``citus_create_restore_point``), which
is what a consistent cluster-wide recovery aims at (each node's base backup plus its WAL archive,
recovered to that name; see the README's Backups), and then dumps through the coordinator as a
logical copy, verified as above, which restores into plain PostgreSQL (the scratch database is one)
or, with :func:`restore`, onto a Citus coordinator, whose tables are then distributed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from cloud_api.db.distribution import distribute, is_citus

__all__ = [
    "BackupError",
    "Compared",
    "Outcome",
    "TableSum",
    "backup",
    "compare",
    "pg_programs",
    "restore",
    "sums_path",
]

FORMAT_POSTGRESQL = "postgresql-custom"
FORMAT_SQLITE = "sqlite"
_CITUS_NOTE = (
    "Citus: this dump through the coordinator holds every row, but not the tables' distribution, "
    "and it is not one moment of the whole cluster while schools write. A consistent copy of the "
    "cluster is each node's base backup with its WAL archive, recovered to restore point {name} "
    "(README, Backups)."
)


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why, in a sentence."""


@dataclass(frozen=True, slots=True)
class TableSum:
    """A table's row count and its rows' order-independent checksum."""

    rows: int
    checksum: str


@dataclass(frozen=True, slots=True)
class Compared:
    """One table in the source (or the backup's sums) and in the restored copy."""

    table: str
    source: TableSum | None
    copy: TableSum | None

    @property
    def same(self) -> bool:
        """True when the table is in both with the same rows."""
        return self.source is not None and self.source == self.copy


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a backup or restore did and what its verification compared."""

    path: Path
    compared: list[Compared]
    restore_point: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every table matched (a check that compared nothing is not a pass)."""
        return bool(self.compared) and all(c.same for c in self.compared)


def sums_path(path: Path) -> Path:
    """Where the sums of the backup ``path`` are kept: beside it."""
    return path.with_name(path.name + ".sums.json")


def compare(source: dict[str, TableSum], copy: dict[str, TableSum]) -> list[Compared]:
    """Every table of either side, by name, with its sums on each side."""
    return [Compared(name, source.get(name), copy.get(name)) for name in sorted(source.keys() | copy.keys())]


def backup(database_url: str, path: Path, *, pg_bin: Path | None = None, now: datetime | None = None) -> Outcome:
    """Back the database up into ``path`` and prove the copy by restoring it (see the module).

    The copy is written as ``<path>.partial`` and renamed once every table matched; on a mismatch
    it stays ``.partial`` and the outcome says which tables differ. Raises :class:`BackupError`.
    """
    url = make_url(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    made_at = now or datetime.now(UTC)
    if url.get_backend_name() == "sqlite":
        source, found = _backup_sqlite(_sqlite_file(url), partial)
        fmt, restore_point, notes = FORMAT_SQLITE, None, []
    elif url.get_backend_name() == "postgresql":
        fmt = FORMAT_POSTGRESQL
        source, found, restore_point = _backup_postgresql(url, partial, pg_bin, made_at)
        notes = [_CITUS_NOTE.format(name=restore_point)] if restore_point else []
    else:
        raise BackupError(f"cannot back up a {url.get_backend_name()} database: only PostgreSQL and SQLite")
    outcome = Outcome(path, compare(source, found), restore_point, notes)
    if not outcome.ok:
        return Outcome(partial, outcome.compared, restore_point, [*notes, f"the copy differs: kept as {partial}"])
    partial.replace(path)
    manifest = {
        "format": fmt,
        "made_at": made_at.isoformat(),
        "restore_point": restore_point,
        "tables": {name: [s.rows, s.checksum] for name, s in sorted(source.items())},
    }
    sums_path(path).write_text(json.dumps(manifest, indent=1) + "\n")
    return outcome


def restore(path: Path, database_url: str, *, pg_bin: Path | None = None, verify: bool = True) -> Outcome:
    """Restore the backup ``path`` into the EMPTY database ``database_url``, then compare its tables
    with the sums kept beside the backup (unless ``verify`` is false). Raises :class:`BackupError`.
    """
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    expected: dict[str, TableSum] | None = None
    if verify:
        expected = _read_sums(path)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite_backup(path)
        found = _restore_sqlite(path, _sqlite_file(url))
    elif url.get_backend_name() == "postgresql":
        found = _restore_postgresql(path, url, pg_bin)
    else:
        raise BackupError(f"cannot restore into a {url.get_backend_name()} database: only PostgreSQL and SQLite")
    if expected is None:
        return Outcome(path, compare(found, found), notes=["not verified: restored without its sums"])
    return Outcome(path, compare(expected, found))


# --- SQLite -----------------------------------------------------------------------------------


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"a SQLite backup needs a database file, not {url.database or 'memory'}")
    return Path(url.database)


def _sqlite_sums(db: sqlite3.Connection) -> dict[str, TableSum]:
    names = [
        row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    sums: dict[str, TableSum] = {}
    for name in names:
        rows, total = 0, 0
        for row in db.execute(f'SELECT * FROM "{name.replace(chr(34), chr(34) * 2)}"'):
            digest = hashlib.blake2b(repr(row).encode(), digest_size=8).digest()
            total = (total + int.from_bytes(digest, "big")) % 2**64
            rows += 1
        sums[name] = TableSum(rows, f"{total:016x}")
    return sums


@contextlib.contextmanager
def _sqlite(path: Path, *, readonly: bool = True) -> Iterator[sqlite3.Connection]:
    mode = "ro" if readonly else "rwc"
    try:
        db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from None
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a sound SQLite database: {exc}") from None
    finally:
        db.close()


def _backup_sqlite(source: Path, partial: Path) -> tuple[dict[str, TableSum], dict[str, TableSum]]:
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    with _sqlite(source) as src:
        src.execute("PRAGMA busy_timeout=30000")
        # One read transaction for the sums and every step of the copy: one snapshot (WAL), which
        # the cloud's writers do not wait for, and which the stepwise copy never has to restart.
        src.execute("BEGIN")
        sums = _sqlite_sums(src)
        with contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst, pages=1024, sleep=0.001)
            # A backup file is one file: without this it is in WAL mode like its source, and
            # every reader would leave -wal and -shm files beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
        src.execute("ROLLBACK")
    return sums, _check_sqlite_backup(partial)


def _check_sqlite_backup(path: Path) -> dict[str, TableSum]:
    with _sqlite(path) as db:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{path}: not a sound SQLite database: {verdict}")
        return _sqlite_sums(db)


def _restore_sqlite(path: Path, target: Path) -> dict[str, TableSum]:
    if target.exists() and target.stat().st_size > 0:
        with _sqlite(target) as db:
            if db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]:
                raise BackupError(f"{target} is not empty: restore into a new database file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _sqlite(path) as src, _sqlite(target, readonly=False) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")  # as the cloud opens it (cloud_api.db.engine)
    with _sqlite(target) as db:
        return _sqlite_sums(db)


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_programs(major: int, pg_bin: Path | None = None) -> tuple[Path, Path]:
    """``pg_dump`` and ``pg_restore`` of PostgreSQL ``major``; :class:`BackupError` when not installed."""
    on_path = shutil.which("pg_dump")
    places = (
        [pg_bin]
        if pg_bin
        else [
            Path(f"/usr/lib/postgresql/{major}/bin"),
            Path(f"/usr/pgsql-{major}/bin"),
            *([Path(on_path).parent] if on_path else []),
        ]
    )
    for place in places:
        dump, restore_ = place / "pg_dump", place / "pg_restore"
        if dump.is_file() and restore_.is_file() and _major_of(dump) == major:
            return dump, restore_
    looked = ", ".join(str(p) for p in places)
    raise BackupError(
        f"pg_dump and pg_restore of PostgreSQL {major} (the server's version) are not in {looked}: "
        f"install them (Debian: apt-get install postgresql-client-{major}) or give --pg-bin"
    )


def _major_of(program: Path) -> int | None:
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment that carries it (never argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_engine(url: URL) -> Engine:
    return create_engine(url.set(drivername="postgresql+psycopg"))


def _pg_tables(conn: Connection) -> list[str]:
    # Top-level tables only: a partitioned table's rows are summed through it, not again per month.
    return list(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
            )
        ).scalars()
    )


def _pg_sums(conn: Connection) -> dict[str, TableSum]:
    quote = conn.dialect.identifier_preparer.quote
    sums: dict[str, TableSum] = {}
    for name in _pg_tables(conn):
        rows, checksum = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text"
                f" FROM public.{quote(name)} AS t"
            )
        ).one()
        sums[name] = TableSum(int(rows), str(checksum))
    return sums


def _backup_postgresql(
    url: URL, partial: Path, pg_bin: Path | None, made_at: datetime
) -> tuple[dict[str, TableSum], dict[str, TableSum], str | None]:
    engine = _pg_engine(url)
    restore_point: str | None = None
    try:
        with _reachable(url), engine.connect() as conn:
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
            dump, restore_ = pg_programs(major, pg_bin)
            if is_citus(conn):
                restore_point = f"mektep-{made_at:%Y%m%dT%H%M%SZ}"
                conn.execute(text("SELECT citus_create_restore_point(:name)"), {"name": restore_point})
            conn.commit()
        with _reachable(url), engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            sums = _pg_sums(conn)
            libpq, env = _libpq(url)
            # Dumped while the transaction that exported the snapshot stays open: the same moment.
            _run([str(dump), "--format=custom", f"--snapshot={snapshot}", f"--file={partial}", libpq], env, "pg_dump")
            conn.rollback()
        with _scratch_database(engine, url) as scratch:
            found = _pg_restore(restore_, partial, scratch)
    finally:
        engine.dispose()
    return sums, found, restore_point


def _restore_postgresql(path: Path, url: URL, pg_bin: Path | None) -> dict[str, TableSum]:
    engine = _pg_engine(url)
    try:
        with _reachable(url), engine.connect() as conn:
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
            if _pg_tables(conn):
                raise BackupError(f"database {url.database} is not empty: restore into a new database")
        _, restore_ = pg_programs(major, pg_bin)
        return _pg_restore(restore_, path, url)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _reachable(url: URL) -> Iterator[None]:
    try:
        yield
    except BackupError:
        raise
    except Exception as exc:  # the driver's errors: a refused connection, a missing database, rights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(f"PostgreSQL at {url.host}:{url.port or 5432}/{url.database}: {first}") from None


@contextlib.contextmanager
def _scratch_database(engine: Engine, url: URL) -> Iterator[URL]:
    name = f"mektep_verify_{secrets.token_hex(4)}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with _reachable(url), admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_restore(program: Path, path: Path, url: URL) -> dict[str, TableSum]:
    """Restore the dump ``path`` into the database ``url`` in one transaction; its tables' sums."""
    libpq, env = _libpq(url)
    listing = _run([str(program), "--list", str(path)], env, "pg_restore", path)
    # The citus extension's own entries: a plain PostgreSQL server has no such extension, and a
    # Citus target has it already (distribute() below places the tables).
    kept = [line for line in listing.splitlines() if not re.search(r"\bEXTENSION\b.*\bcitus", line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list") as chosen:
        chosen.write("\n".join(kept) + "\n")
        chosen.flush()
        _run(
            [
                str(program),
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                f"--use-list={chosen.name}",
                f"--dbname={libpq}",
                str(path),
            ],
            env,
            "pg_restore",
            path,
        )
    engine = _pg_engine(url)
    try:
        with engine.connect() as conn:
            distribute(conn)  # commits table by table; nothing off Citus
        with engine.connect() as conn:
            return _pg_sums(conn)
    finally:
        engine.dispose()


def _run(argv: list[str], env: dict[str, str], what: str, path: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        reason = errors[0] if errors else f"exit status {done.returncode}"
        reason = reason.removeprefix(f"{what}: ").removeprefix("error: ")
        where = f"{path}: " if path else ""
        hint = " (a damaged, truncated or not a PostgreSQL custom-format file?)" if path else ""
        raise BackupError(f"{where}{what} failed: {reason}{hint}")
    return done.stdout


def _read_sums(path: Path) -> dict[str, TableSum]:
    place = sums_path(path)
    try:
        manifest = json.loads(place.read_text())
        return {name: TableSum(int(rows), str(checksum)) for name, (rows, checksum) in manifest["tables"].items()}
    except FileNotFoundError:
        raise BackupError(
            f"{place}: the backup's sums are missing; keep them beside the backup, or restore with --no-verify"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupError(f"{place}: not the sums of a backup (damaged?)") from None
