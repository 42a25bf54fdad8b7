"""A Citus cluster on this machine: a coordinator and workers, each its own PostgreSQL server.

    with citus_cluster(workers=2) as cluster:
        upgrade(cluster.url)                    # mektep cloud migrate, against the coordinator
        cluster.stop_worker(0); cluster.start_worker(0)

The tests and ``mektep bench scale`` start one; a deployment runs its own (a managed service, or
Citus's packages on separate machines) and gives the cloud the coordinator's URL, nothing more.
Each server is made with ``initdb`` in a temporary folder, listens on 127.0.0.1 on a free port
and is stopped (and its folder removed) at the end. As root the servers run as the ``postgres``
user, which PostgreSQL requires.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

__all__ = ["CitusCluster", "PlainServer", "citus_cluster", "citus_missing", "plain_server"]

INSTALL_HINT = "Citus is not installed: run ../shared/citus/install.sh as root"


def _pg_config(flag: str) -> Path | None:
    try:
        out = subprocess.run(["pg_config", flag], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(out)


def _bin_dir() -> Path | None:
    found = _pg_config("--bindir")
    # Debian's pg_config names /usr/bin, where initdb and pg_ctl are not: they live by version.
    if found is not None and (found / "initdb").exists():
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def citus_missing() -> str | None:
    """Why a Citus cluster cannot start here, or ``None`` when it can."""
    if _bin_dir() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    libdir = _pg_config("--pkglibdir")
    if libdir is None or not (libdir / "citus.so").exists():
        return INSTALL_HINT
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


# A test cluster trades durability for speed; a benchmark keeps the server's defaults for both sides.
_FAST = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")


@dataclass
class _Server:
    """One PostgreSQL server: its folder, port and whether it is running."""

    data: Path
    port: int
    bin_dir: Path
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.with_suffix(".log")

    def init(self, settings: list[str]) -> None:
        subprocess.run(
            _as_server_user([str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
            check=True,
            capture_output=True,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(["listen_addresses = '127.0.0.1'", f"port = {self.port}", *settings]) + "\n")

    def start(self) -> None:
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"]
        subprocess.run(_as_server_user([*argv, "-o", f"-k {self.data}", "start"]), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
        subprocess.run(_as_server_user(argv), capture_output=True)

    def execute(self, sql: str, database: str = "postgres") -> None:
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class CitusCluster:
    """A running cluster: ``url`` is the coordinator's, the one URL the cloud is given."""

    coordinator: _Server
    workers: list[_Server]

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the coordinator's database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.coordinator.port}/postgres"

    @property
    def dsn(self) -> str:
        """The coordinator's libpq URL."""
        return self.coordinator.dsn()

    def stop_worker(self, index: int) -> None:
        """Stop worker ``index`` at once (``immediate``: as a crash would)."""
        self.workers[index].stop("immediate")

    def start_worker(self, index: int) -> None:
        """Start worker ``index`` again, on the same port and folder."""
        self.workers[index].start()


@dataclass
class PlainServer:
    """One plain PostgreSQL server made the same way: a benchmark's single-server baseline."""

    server: _Server

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.server.port}/postgres"


@contextlib.contextmanager
def _servers(count: int, settings: list[str], root: Path | None) -> Iterator[list[_Server]]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="mektep-pg-", dir=root))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    servers = [_Server(folder / f"node{i}", _free_port(), bin_dir) for i in range(count)]
    try:
        for server in servers:
            server.init(settings)
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def citus_cluster(
    workers: int = 2, *, durable: bool = False, shard_count: int = 32, root: Path | None = None
) -> Iterator[CitusCluster]:
    """Start a coordinator and ``workers`` workers with Citus; stop them and remove their folders after.

    ``durable=False`` turns fsync off (a test's cluster); a benchmark passes ``True``.
    ``shard_count`` is how many shards a distributed table gets (Citus's default is 32; a test
    cluster empties every table between tests, and fewer shards make that quicker).
    """
    missing = citus_missing()
    if missing is not None:
        raise RuntimeError(missing)
    settings = [
        "shared_preload_libraries = 'citus'",
        "max_connections = 300",
        f"citus.shard_count = {shard_count}",
        *(() if durable else _FAST),
    ]
    with _servers(workers + 1, settings, root) as servers:
        for server in servers:
            server.execute("CREATE EXTENSION IF NOT EXISTS citus")
        coordinator, *nodes = servers
        coordinator.execute(f"SELECT citus_set_coordinator_host('127.0.0.1', {coordinator.port})")
        for node in nodes:
            coordinator.execute(f"SELECT citus_add_node('127.0.0.1', {node.port})")
        yield CitusCluster(coordinator, nodes)


@contextlib.contextmanager
def plain_server(*, durable: bool = True, root: Path | None = None) -> Iterator[PlainServer]:
    """Start one PostgreSQL server without Citus, made as :func:`citus_cluster` makes its nodes."""
    settings = ["max_connections = 300", *(() if durable else _FAST)]
    with _servers(1, settings, root) as servers:
        yield PlainServer(servers[0])


def wait_ready(dsn: str, timeout_s: float = 30.0) -> None:
    """Wait until the server at ``dsn`` takes connections."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
