"""``mektep bench office``: the school office's pages for a 3,000-student school with a month of events.

The school of the load generator (:mod:`simulators.school_month`: 3,000 students and 150 staff, last
month's events and today's, about 300,000 in all) in a ``mektep cloud serve`` process on SQLite,
its journal holding an entry for every person and card, and its administrator signed in. Each page
is asked 50 times in a row; the figures are the server's answer times as the browser's HTTP client
sees them, median and p95, against ``GET /healthz`` asked the same way in the same run:

- ``today_p95_ms``: the Today page (who is inside, who has not arrived, meals, readers);
- ``people_p95_ms``: People, the first page of 3,000 rows (50 a page, the total counted);
- ``person_p95_ms``: a student's page (cards, consent, guardians, the last 30 days of events);
- ``journal_p95_ms``: the journal filtered by that student;
- ``import_preview_s``: the preview of a 3,000-row NEDB export (every row read, checked and compared
  with the stored roster; nothing stored), the median of three;
- ``export_s``, ``export_mib``: the whole school's archive (every file, manifest and schema) asked
  for on the Export page and made by the background worker, until the page offers it; its size;
- ``ratings_month_p95_ms``: the meal ratings of last month (a year of them filled first; see
  :mod:`mektep.office_bench_ratings`);
- ``healthz_p95_ms``: the baseline;
- ``region_page_p95_ms`` and its parts: a region of 200 generated schools on PostgreSQL
  (:mod:`mektep.office_bench_region`; a tenth of the school's students each; skipped with a note
  when PostgreSQL does not answer).
"""

from __future__ import annotations

import csv
import io
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import insert, select, update

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import audit_log, iin_index, people
from cloud_api.roster.iin import check_digit
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.services.cards import assign_card
from cloud_api.services.second_factor import begin_totp, confirm_totp
from mektep.office_bench_canteen import bench_office_canteen
from mektep.office_bench_money import bench_money
from mektep.office_bench_ratings import bench_ratings
from mektep.office_bench_region import bench_region
from mektep.processes import CloudProcess
from mektep.timing import p95, times_ms
from shared.contract import CredentialKind, Event, credential_hash
from shared.localtime import LOCAL_TZ, local_date
from simulators.school_month import school_month, write_events, write_school

__all__ = ["bench_office"]

SCHOOL, LOGIN, PASSWORD = "bench-school", "head@bench.kz", "correct horse battery"
CARD_KEY = "bench-card-key-shared-with-gateways"
ASKS = 50


def _valid_iin(n: int) -> str:
    """An IIN with its check digit for person ``n`` (century digit 0: its date is not checked)."""
    for k in range(10_000):
        stem = f"1{n:05d}0{k:04d}"
        digit = check_digit(stem)
        if digit is not None:
            return stem + str(digit)
    raise ValueError(n)


def _fill(database_url: str, students: int) -> tuple[str, bytes, str, int]:
    """The school, last month's events and today's, the journal, its administrator with an
    authenticator; (a student's id, the NEDB export, the authenticator's secret, events stored)."""
    upgrade(database_url)
    engine = make_engine(database_url)
    today = local_date(datetime.now(UTC))
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    with engine.begin() as conn:
        write_school(conn, SCHOOL, students, last_month)
        ids = [row.id for row in conn.execute(select(people.c.id).where(people.c.school_id == SCHOOL))]
        for n, person_id in enumerate(ids):  # IINs with their check digit, as an export has them
            conn.execute(
                update(people)
                .where(people.c.id == person_id)
                .values(iin=_valid_iin(n), iin_index=iin_index(conn, _valid_iin(n)))
            )
    month = list(school_month(SCHOOL, students, last_month))
    first_day = min(e.occurred_at.astimezone(LOCAL_TZ).date() for e in month)
    shift = today - first_day
    todays = [
        Event.model_validate(
            {
                **e.model_dump(mode="json"),
                "id": str(uuid.uuid4()),
                "seq": e.seq + len(month),
                "occurred_at": (e.occurred_at + shift).isoformat(),
            }
        )
        for e in month
        if e.occurred_at.astimezone(LOCAL_TZ).date() == first_day
    ]
    everything = month + todays
    for start in range(0, len(everything), 5000):
        with engine.begin() as conn:
            write_events(conn, everything[start : start + 5000])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # Sorted here: the IIN is encrypted in the database, so its order there means nothing.
        rows = sorted(conn.execute(select(people).where(people.c.school_id == SCHOOL)).all(), key=lambda r: r.iin)
        for row in rows[: students // 10]:  # a tenth of the students hold a card
            card = credential_hash(CARD_KEY.encode(), f"card-{row.iin}")
            assign_card(conn, SCHOOL, row.id, CredentialKind.EM4100, card, actor="bench")
        journal = [
            {
                "school_id": SCHOOL,
                "at": now,
                "actor": "bench",
                "action": "create",
                "entity": "person",
                "entity_id": str(row.id),
                "before": None,
                "after": {"iin": row.iin, "class_name": row.class_name},
            }
            for row in rows
        ]
        conn.execute(insert(audit_log), journal)
        account = create_school_admin(conn, LOGIN, PASSWORD, SCHOOL, actor=SYSTEM)
        secret = begin_totp(conn, account.id, LOGIN, now).secret
        confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id=SCHOOL)
    engine.dispose()
    return str(rows[0].id), _export(rows), secret, len(everything)


def _export(rows: list[Any]) -> bytes:
    """The NEDB export of the school's students: the same people, one in twenty moved to another class."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["role", "iin", "last_name", "first_name", "class", "language", "meal_category"])
    for n, row in enumerate(r for r in rows if r.role == "student"):
        grade = (row.grade % 11) + 1 if n % 20 == 0 else row.grade
        writer.writerow(
            [
                "student",
                row.iin,
                row.last_name,
                row.first_name,
                f"{grade}{row.class_name[-1]}",
                "ru",
                row.meal_category or "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _archive_link(page: str) -> str:
    start = page.index("/archive.zip")
    return page[page.rindex('href="', 0, start) + len('href="') : start + len("/archive.zip")]


def bench_office(students: int = 3000) -> dict[str, Any]:
    """Fill the school, start the cloud, sign in, ask each page; the figures above."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-office-") as tmp:
        workdir = Path(tmp)
        cloud = CloudProcess(workdir)
        cloud.env["MEKTEP_CLOUD_CREDENTIAL_KEY"] = CARD_KEY
        person, export, secret, stored = _fill(cloud.database_url, students)
        cloud.start_and_wait()
        try:
            with httpx.Client(
                base_url=cloud.url, timeout=120, headers={"Origin": cloud.url}, follow_redirects=True
            ) as client:
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
                base = f"/office/schools/{SCHOOL}"
                pages = {
                    "healthz": "/healthz",
                    "today": f"{base}/today",
                    "people": f"{base}/people",
                    "person": f"{base}/people/{person}",
                    "journal": f"{base}/journal?person={person}",
                }
                for path in pages.values():  # warm: templates compiled, caches filled
                    times_ms(client, path, 3)
                times = {name: times_ms(client, path, ASKS) for name, path in pages.items()}
                ratings = bench_ratings(client, cloud.database_url, SCHOOL, ASKS)  # mektep/office_bench_ratings.py
                previews = []
                for _ in range(3):
                    started = time.perf_counter()
                    answer = client.post(f"{base}/roster/preview", files={"file": ("nedb.csv", export, "text/csv")})
                    previews.append(time.perf_counter() - started)
                    if answer.status_code != 200 or 'name="carried"' not in answer.text:
                        raise RuntimeError(f"the preview answered {answer.status_code}: {answer.text[:300]}")
                started = time.perf_counter()
                client.post(f"{base}/export").raise_for_status()
                while "/archive.zip" not in (listed := client.get(f"{base}/export").text):
                    if "tag bad" in listed:
                        raise RuntimeError("the archive failed: see the cloud's log")
                    time.sleep(0.1)
                export_s = time.perf_counter() - started
                link = _archive_link(listed)
                export_mib = len(client.get(link).content) / 2**20
                money = bench_money(client, cloud.database_url, SCHOOL)  # statement_p95_ms and the money pages
                canteen = bench_office_canteen(client, cloud.database_url, SCHOOL)
        finally:
            cloud.stop()
    figures: dict[str, float | int] = {}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = statistics.median(values)
        figures[f"{name}_p95_ms"] = p95(values)
    figures["import_preview_s"] = statistics.median(previews)
    figures["export_s"] = export_s
    figures["export_mib"] = export_mib
    figures["events"] = stored
    figures.update(money)
    figures.update(canteen)
    figures |= ratings
    figures |= bench_region(schools=200 if students >= 1000 else 10, students=max(10, students // 10))
    return figures
