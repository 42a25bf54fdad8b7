"""Shared fixtures: real PostgreSQL and real Mosquitto (skipped locally when absent, never in CI),
pseudo-terminal readers, and a sink that records what a driver hands over.

    postgres_url        a fresh PostgreSQL database for the session
    citus               a Citus cluster (coordinator and two workers) for the session
    citus_url           its coordinator's URL
    mosquitto_broker    mosquitto on a free port, persistence on, in tmp_path (function scope)
    pty_reader          a SerialReaderSim on tmp_path/"ttyREADER" (closed afterwards)
    pty_readers         a factory: pty_readers("ttyIN", seed=1) -> SerialReaderSim
    pty_devices         a factory of any serial simulator: pty_devices(QrScannerSim, "ttyQR", seed=1)
    recording_sink      a RecordingSink (a ReadSink that keeps every read and status change)

Helpers to import: ``need(condition, reason)``, ``mosquitto_path()``, ``eventually(predicate)``,
``running(driver, sink)``, ``fast(driver)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import psycopg
import pytest

from device_drivers.base import CardRead, LinkDriver, LinkState, ReadSink, StatusChange
from mektep.citus_cluster import CitusCluster, citus_cluster, citus_missing
from simulators.broker import Broker, find_mosquitto, start_broker
from simulators.serial_device import SerialDeviceSim
from simulators.serial_reader import SerialReaderSim

IN_CI = os.environ.get("CI") == "true"
# Password hashes at a test's cost (argon2id with 1 MiB, one pass) in this process and in every server
# it starts; `mektep bench sign-in` and deployments keep the real 64 MiB.
os.environ.setdefault("MEKTEP_PASSWORD_HASH_MEMORY_KIB", "1024")
os.environ.setdefault("MEKTEP_PASSWORD_HASH_TIME_COST", "1")
PG_ADMIN = os.environ.get("MEKTEP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MOSQUITTO_MISSING = "mosquitto is not installed (apt-get install mosquitto)"


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when a real part is missing; in CI that is a failure instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI must run this test)")
        pytest.skip(reason)


def mosquitto_path() -> str | None:
    """The mosquitto binary, if installed."""
    return find_mosquitto()


async def eventually(predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Wait on the running loop until ``predicate()`` is true; ``AssertionError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.01)


class RecordingSink:
    """A :class:`~device_drivers.base.ReadSink` that keeps everything, optionally answering reads."""

    def __init__(self) -> None:
        self.reads: list[CardRead] = []
        self.status: list[StatusChange] = []
        self.on_read: Callable[[CardRead], None] | None = None

    def card_read(self, read: CardRead) -> None:
        self.reads.append(read)
        if self.on_read is not None:
            self.on_read(read)

    def status_changed(self, change: StatusChange) -> None:
        self.status.append(change)

    def credentials(self) -> list[str]:
        """The credentials read, in order."""
        return [r.credential for r in self.reads]

    def states(self, device_id: str | None = None) -> list[LinkState]:
        """The states reported (of ``device_id`` only, if given), in order."""
        return [s.state for s in self.status if device_id is None or s.device_id == device_id]


D = TypeVar("D", bound=LinkDriver)


@contextlib.asynccontextmanager
async def running(driver: D, sink: ReadSink) -> AsyncIterator[D]:
    """Run ``driver`` into ``sink`` for the block, then cancel it and wait until it has closed."""
    task = asyncio.create_task(driver.run(sink))
    try:
        yield driver
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def fast(driver: D) -> D:
    """Reconnect (and, for serial drivers, flush idle lines) in milliseconds, so tests take no seconds."""
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05
    if hasattr(driver, "idle_flush_s"):
        driver.idle_flush_s = 0.05
    return driver


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        need(False, f"PostgreSQL is not reachable at {PG_ADMIN}: {exc}")
        raise
    name = f"mektep_test_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    # A test database need not survive a power cut: a commit that does not wait for the disk makes
    # the PostgreSQL cases several times faster on a slow one, and tests nothing less.
    admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def citus() -> Iterator[CitusCluster]:
    """A Citus cluster for this test session: a coordinator and two workers, four shards a table."""
    missing = citus_missing()
    need(missing is None, str(missing))
    with citus_cluster(workers=2, shard_count=4) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def citus_url(citus: CitusCluster) -> str:
    """The session's Citus coordinator: the one URL the cloud is given."""
    return citus.url


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto on a free port with persistence in ``tmp_path/broker``; stopped afterwards."""
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    with start_broker(workdir=tmp_path / "broker") as broker:
        yield broker


@pytest.fixture
def pty_readers(tmp_path: Path) -> Iterator[Callable[..., SerialReaderSim]]:
    """Make simulated serial readers on stable paths in ``tmp_path``; all closed afterwards."""
    made: list[SerialReaderSim] = []

    def make(name: str = "ttyREADER", *, seed: int = 0) -> SerialReaderSim:
        sim = SerialReaderSim(tmp_path / name, seed=seed)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


S = TypeVar("S", bound=SerialDeviceSim)


class MakeSim(Protocol):
    """The ``pty_devices`` factory: a simulator of ``kind`` on ``tmp_path/name``."""

    def __call__(self, kind: type[S], name: str, **options: object) -> S: ...


@pytest.fixture
def pty_devices(tmp_path: Path) -> Iterator[MakeSim]:
    """Make serial simulators of any kind on stable paths in ``tmp_path``; all closed afterwards."""
    made: list[SerialDeviceSim] = []

    def make(kind: type[S], name: str, **options: object) -> S:
        sim = kind(tmp_path / name, **options)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


@pytest.fixture
def pty_reader(pty_readers: Callable[..., SerialReaderSim]) -> SerialReaderSim:
    """One simulated EM4100 reader on ``tmp_path/ttyREADER``."""
    return pty_readers()


@pytest.fixture
def recording_sink() -> RecordingSink:
    """A sink that records every card read and status change."""
    return RecordingSink()
