"""The first days of November 2026, played by the report jobs against the ministry's receiver simulator.

October's reports are due on Thursday 5 November; the warning day is Wednesday the 4th. School s1
had its October (the ``school`` fixture); school s2's gateway gw2 has never been heard from, so its
(empty) reports wait for it until the cut-off, the 3rd.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud_api.core.localtime import LOCAL_TZ
from cloud_api.db.schema import report_deliveries, report_warnings
from cloud_api.reports.issue import ensure_report_key
from cloud_api.reports.jobs import DayResult, reports_day
from cloud_api.services.gateways import register_gateway
from simulators.ministry_receiver import ReceiverServer
from tests.cloud_api.test_reports import school  # noqa: F401  (the fixture: October of school s1)


@pytest.fixture
def receiver(school: dict[str, Any]) -> Iterator[ReceiverServer]:  # noqa: F811
    with school["engine"].begin() as conn:
        public = ensure_report_key(conn).public_key()
    with ReceiverServer(public) as running:
        yield running


def play(engine: Any, receiver: ReceiverServer, days: range, down_until: int, hour: int = 10) -> dict[int, DayResult]:
    """Run the jobs once on each day of November (at ``hour``), the receiver down before ``down_until``."""
    results = {}
    with httpx.Client(timeout=10) as client:
        for day in days:
            receiver.state.down = day < down_until
            now = datetime(2026, 11, day, hour, 0, tzinfo=LOCAL_TZ)
            results[day] = reports_day(engine, {"ministry": receiver.url}, client, now, sleep=lambda _: None)
    return results


def delivered_on(engine: Any) -> set[date]:
    with engine.connect() as conn:
        rows = conn.execute(select(report_deliveries.c.delivered_at).where(report_deliveries.c.state == "delivered"))
        return {at.astimezone(LOCAL_TZ).date() for (at,) in rows}


def warnings(engine: Any, school_id: str = "s1") -> list[tuple[str, date]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(report_warnings.c.kind, report_warnings.c.raised_at).where(report_warnings.c.school_id == school_id)
        )
        return sorted((kind, at.astimezone(LOCAL_TZ).date()) for kind, at in rows)


def test_nothing_is_built_before_the_1st_at_two(school: dict[str, Any], receiver: ReceiverServer) -> None:  # noqa: F811
    assert play(school["engine"], receiver, range(1, 2), down_until=0, hour=1)[1].issued == []
    assert play(school["engine"], receiver, range(1, 2), down_until=0, hour=3)[1].issued == [
        "s1/2026-10/meals v1", "s1/2026-10/attendance v1"
    ]  # fmt: skip


def test_a_receiver_down_until_the_4th_is_delivered_to_and_nobody_is_warned(
    school: dict[str, Any],  # noqa: F811
    receiver: ReceiverServer,
) -> None:
    results = play(school["engine"], receiver, range(1, 7), down_until=4)
    assert results[1].issued == ["s1/2026-10/meals v1", "s1/2026-10/attendance v1"]
    assert [results[d].delivered for d in range(1, 7)] == [0, 0, 0, 4, 0, 0]  # s1's two and s2's two
    assert delivered_on(school["engine"]) == {date(2026, 11, 4)}
    assert warnings(school["engine"]) == []
    assert sorted((d.school_id, d.kind) for d in receiver.state.deliveries) == [
        ("s1", "attendance"), ("s1", "meals"), ("s2", "attendance"), ("s2", "meals")
    ]  # fmt: skip


def test_a_receiver_down_past_the_deadline_raises_the_warning_on_time_and_is_retried(
    school: dict[str, Any],  # noqa: F811
    receiver: ReceiverServer,
) -> None:
    engine = school["engine"]
    with engine.begin() as conn:
        register_gateway(conn, "gw3", "s1", "the-canteen-gateway-key")  # silent since October
    results = play(engine, receiver, range(1, 9), down_until=99)
    assert ["s1" in results[d].waiting for d in range(1, 5)] == [True, True, False, False]  # until the cut-off
    assert "s1/2026-10/meals v1" in results[3].issued and "s1/2026-10/attendance v1" in results[3].issued
    assert warnings(engine) == [("attendance", date(2026, 11, 4)), ("meals", date(2026, 11, 4))]  # once each
    assert receiver.state.attempts >= 2 * 3 * 6  # every round tried again: 2 reports, 3 tries, 6 days at least
    play(engine, receiver, range(9, 10), down_until=0)  # back on Monday the 9th
    assert delivered_on(engine) == {date(2026, 11, 9)}
