"""Shared fixtures: real PostgreSQL and real Mosquitto, skipped locally when absent, never in CI."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import psycopg
import pytest

IN_CI = os.environ.get("CI") == "true"
PG_ADMIN = os.environ.get("MEKTEP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when a real part is missing; in CI that is a failure instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI must run this test)")
        pytest.skip(reason)


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
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def mosquitto_path() -> str | None:
    """The mosquitto binary, if installed."""
    return shutil.which("mosquitto") or (os.path.exists("/usr/sbin/mosquitto") and "/usr/sbin/mosquitto") or None
