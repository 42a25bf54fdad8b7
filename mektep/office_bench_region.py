"""The region's desk of ``mektep bench office``: a region of 200 generated schools on PostgreSQL.

PostgreSQL makes the region's schools, their people and a month of events with its rollups (the load
generator's recipe, :func:`simulators.school_month.generate_postgres`, 300 students a school by
default); half the schools have their two reports issued, and the region's sums are issued as the
job issues them on the 1st. A ``mektep cloud serve`` process on that database answers the region's
authority, signed in with its password and authenticator code. Each page is asked 50 times in a row:

- ``region_page_p95_ms``: the slower of the two pages at p95: the region's schools with each report's
  state (``/office/regions/<region>/schools``) and the month's sums (``…/sums``);
- ``region_schools_p95_ms``, ``region_sums_p95_ms``: each page's own p95;
- ``region_generate_s``: for scale, what generating the region took.

Without a PostgreSQL server answering at the URL, :func:`bench_region` returns only ``region_note``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.reports.issue import KINDS, issue_report, issue_reports
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.second_factor import begin_totp, confirm_totp
from mektep.processes import CloudProcess
from mektep.timing import p95, times_ms
from simulators.school_month import REGION, generate_postgres

__all__ = ["DEFAULT_REGION_POSTGRES", "bench_region"]

DEFAULT_REGION_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/mektep_bench_office_region"
MONTH = "2026-10"
LOGIN, PASSWORD = "akimat@region.kz", "correct horse battery"
ASKS = 50


def _reachable(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``'s server, else why not."""
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"PostgreSQL is not reachable ({str(exc).splitlines()[0][:120]}): the region's pages were not measured"
    finally:
        admin.dispose()
    return None


def _fresh(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _fill(url: str, schools: int, students: int) -> tuple[str, float]:
    """The region, half its schools' reports and its sums issued, and its authority's account; (secret, seconds)."""
    _fresh(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            generate_postgres(conn, schools, students, MONTH)
        took = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        half = [(f"load-{n}", kind) for n in range(1, schools + 1, 2) for kind in KINDS]
        for _issued in issue_reports(engine, MONTH, half):
            pass
        with engine.begin() as conn:
            issue_report(conn, REGION, MONTH, "region")
            account = create_account(conn, LOGIN, actor=SYSTEM, password=PASSWORD)
            grant_role(conn, account.id, Role.REGION, REGION, actor=SYSTEM)
            at = datetime.now(UTC)
            secret = begin_totp(conn, account.id, LOGIN, at).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), at, actor=SYSTEM, school_id=None)
    finally:
        engine.dispose()
    return secret, took


def bench_region(
    postgres_url: str = DEFAULT_REGION_POSTGRES, *, schools: int = 200, students: int = 300, asks: int = ASKS
) -> dict[str, Any]:
    """Generate the region, serve it, sign its authority in, ask both pages; the figures above."""
    why_not = _reachable(postgres_url)
    if why_not is not None:
        return {"region_note": why_not}
    secret, generated = _fill(postgres_url, schools, students)
    with tempfile.TemporaryDirectory(prefix="mektep-bench-region-") as tmp:
        cloud = CloudProcess(Path(tmp), database_url=postgres_url)
        cloud.start_and_wait()
        try:
            with httpx.Client(base_url=cloud.url, timeout=120, headers={"Origin": cloud.url}) as client:
                signed = client.post(
                    "/v1/auth/sign-in",
                    json={
                        "login": LOGIN,
                        "password": PASSWORD,
                        "code": pyotp.TOTP(secret).at(time.time(), counter_offset=1),
                    },
                )
                signed.raise_for_status()
                client.cookies.set("mektep_session", signed.json()["token"])
                base = f"/office/regions/{REGION}"
                pages = {"schools": f"{base}/schools?month={MONTH}", "sums": f"{base}/sums?month={MONTH}"}
                for path in pages.values():  # warm: templates compiled, caches filled
                    times_ms(client, path, 3)
                times = {name: times_ms(client, path, asks) for name, path in pages.items()}
        finally:
            cloud.stop()
    figures: dict[str, Any] = {f"region_{name}_p95_ms": round(p95(values), 1) for name, values in times.items()}
    figures["region_page_p95_ms"] = max(figures["region_schools_p95_ms"], figures["region_sums_p95_ms"])
    figures["region_generate_s"] = round(generated, 1)
    return figures
