"""Issuing many reports at once: drafts made side by side, versions stored one by one, none stale."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud_api.db.schema import dish_versions
from cloud_api.reports import issue
from cloud_api.reports.deliver import Receivers
from cloud_api.reports.formats import canonical_json
from cloud_api.reports.issue import draft_report, issue_draft, issue_report, issue_reports
from cloud_api.reports.jobs import DayResult
from cloud_api.services.menus import set_day_menu
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from shared.roster_contract import SetMeal
from tests.cloud_api.helpers import batch_body, event, signed
from tests.cloud_api.school import TEEN
from tests.cloud_api.test_report_delivery import run_day
from tests.cloud_api.test_reports import PLOV, SCHOOL_DAYS, at, late_meal, school  # noqa: F401  (the fixture)


def test_a_schools_two_reports_are_drafted_side_by_side_and_stored_in_order(
    school: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = school["engine"]
    together = threading.Barrier(2, timeout=10)
    built = dict(issue._BUILDERS)

    def meeting(kind: str) -> Callable[..., dict[str, Any]]:
        def build(conn: Any, subject: str, month: str, now: datetime | None) -> dict[str, Any]:
            together.wait()  # drafted one after the other, the first waits here alone and fails
            return built[kind](conn, subject, month, now)

        return build

    for kind in ("meals", "attendance"):
        monkeypatch.setitem(issue._BUILDERS, kind, meeting(kind))
    got = list(issue_reports(engine, "2026-10", [("s1", "meals"), ("s1", "attendance")]))
    assert [(i.kind, i.version, i.new) for i in got] == [("meals", 1, True), ("attendance", 1, True)]
    with engine.connect() as conn:
        for i in got:  # each the content a single, serial build gives
            assert i.files[f"{i.kind}.json"] == canonical_json(built[i.kind](conn, "s1", "2026-10", None))
    assert [i.new for i in issue_reports(engine, "2026-10", [("s1", "meals"), ("s1", "attendance")])] == [False] * 2


def test_a_draft_overtaken_by_a_newer_version_is_drafted_again_not_stored_stale(
    school: dict[str, Any],  # noqa: F811
    client: TestClient,
) -> None:
    engine = school["engine"]
    with engine.connect() as conn:
        stale = draft_report(conn, "s1", "2026-10", "meals")  # drafted before the late lunch came
    late_meal(client, school["who"])
    with engine.begin() as conn:
        newer = issue_report(conn, "s1", "2026-10", "meals")  # say, by `mektep report build`
    with engine.begin() as conn:
        stored = issue_draft(conn, stale)
    assert (newer.version, stored.version, stored.new) == (1, 1, False)  # not a v2 without the late lunch


def test_the_hourly_run_drafts_again_only_the_reports_whose_inputs_moved(
    school: dict[str, Any],  # noqa: F811
    client: TestClient,
) -> None:
    engine = school["engine"]
    hour = iter(range(10, 24))

    def run() -> DayResult:
        now = datetime(2026, 11, 3, next(hour), tzinfo=LOCAL_TZ)
        return asyncio.run(run_day(engine, Receivers(), now))

    def menu(day: date, price: int) -> None:
        with engine.begin() as conn:
            plov = conn.execute(select(dish_versions.c.dish_id).where(dish_versions.c.school_id == "s1")).scalar_one()
            set_day_menu(conn, "s1", SetMeal(day=day, period="lunch", dish_ids=[plov], price_tiyn=price), actor="cook")

    first = run()  # s1, s2 (past the cut-off: its gateway never came) and the country's sums
    assert first.drafted == 5 and "KZ/2026-10/country v1" in first.issued
    assert (run().drafted, run().issued) == (0, [])  # nothing came: nothing built, hour after hour
    december = batch_body(
        [event(9998, person_id=school["who"][TEEN], reason="on_roster", at=at(date(2026, 12, 1), "08:00"))]
    )
    assert client.post(INGEST_PATH, content=december, headers=signed(december)).status_code == 200
    assert run().drafted == 0  # the school's days go on: this month's taps leave October's reports be
    late_meal(client, school["who"])
    late = run()
    assert (late.drafted, late.issued) == (3, ["s1/2026-10/meals v2", "KZ/2026-10/country v2"])
    # October's price changed after it was served: the school's report lists the menu's new price, but
    # no meal served moves (frozen at serving), so the country's sums stay as issued.
    menu(SCHOOL_DAYS[3], PLOV + 5000)
    assert run().issued == ["s1/2026-10/meals v3"]
    menu(date(2026, 12, 7), PLOV)  # December's menu takes a roster version, which October's reports never read
    assert run().drafted == 0
