"""The first days of November 2026, played by the report jobs against the ministry's receiver simulator.

October's reports are due on Thursday 5 November; the warning day is Wednesday the 4th. School s1
had its October (the ``school`` fixture); school s2's gateway gw2 has never been heard from, so its
(empty) reports wait for it until the cut-off, the 3rd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from cloud_api.background.http import RetryPolicy, client
from cloud_api.db.schema import report_deliveries, report_warnings, schools
from cloud_api.reports.deliver import DELIVERY_POLICY, Receivers
from cloud_api.reports.issue import ensure_report_key
from cloud_api.reports.jobs import DayResult, reports_day
from cloud_api.reports.models import RegionReport
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateways import register_gateway
from shared.localtime import LOCAL_TZ
from simulators.ministry_receiver import ReceiverServer
from tests.cloud_api.helpers import sign_in
from tests.cloud_api.test_reports import school  # noqa: F401  (the fixture: October of school s1)


@pytest.fixture
def receiver(school: dict[str, Any]) -> Iterator[ReceiverServer]:  # noqa: F811
    with school["engine"].begin() as conn:
        public = ensure_report_key(conn).public_key()
    with ReceiverServer(public) as running:
        yield running


async def _no_wait(_seconds: float) -> None:
    return None


# The jobs' own policy (three tries a round), without waiting out the backoff.
NO_WAIT = RetryPolicy(initial_s=DELIVERY_POLICY.initial_s, max_s=DELIVERY_POLICY.max_s, attempts=3, sleep=_no_wait)


async def run_day(engine: Any, receivers: Receivers, now: datetime) -> DayResult:
    """What the report jobs do at ``now`` (their HTTP client made and closed in this loop)."""
    async with client(timeout_s=10) as http:
        return await reports_day(engine, receivers, http, now, retry=NO_WAIT)


def play(engine: Any, receiver: ReceiverServer, days: range, down_until: int, hour: int = 10) -> dict[int, DayResult]:
    """Run the jobs once on each day of November (at ``hour``), the receiver down before ``down_until``."""
    results = {}
    for day in days:
        receiver.state.down = day < down_until
        now = datetime(2026, 11, day, hour, 0, tzinfo=LOCAL_TZ)
        receivers = Receivers(schools={"ministry": receiver.url})
        results[day] = asyncio.run(run_day(engine, receivers, now))
    return results


def delivered_on(engine: Any) -> set[date]:
    with engine.connect() as conn:
        rows = conn.execute(select(report_deliveries.c.delivered_at).where(report_deliveries.c.state == "delivered"))
        return {at.astimezone(LOCAL_TZ).date() for (at,) in rows}


def warnings(engine: Any, subject: str = "s1") -> list[tuple[str, date]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(report_warnings.c.kind, report_warnings.c.raised_at).where(report_warnings.c.subject == subject)
        )
        return sorted((kind, at.astimezone(LOCAL_TZ).date()) for kind, at in rows)


def test_nothing_is_built_before_the_1st_at_two(school: dict[str, Any], receiver: ReceiverServer) -> None:  # noqa: F811
    assert play(school["engine"], receiver, range(1, 2), down_until=0, hour=1)[1].issued == []
    assert play(school["engine"], receiver, range(1, 2), down_until=0, hour=3)[1].issued == [
        "s1/2026-10/meals v1",
        "s1/2026-10/attendance v1",
    ]


def test_a_receiver_down_until_the_4th_is_delivered_to_and_nobody_is_warned(
    school: dict[str, Any],  # noqa: F811
    receiver: ReceiverServer,
) -> None:
    results = play(school["engine"], receiver, range(1, 7), down_until=4)
    assert results[1].issued == ["s1/2026-10/meals v1", "s1/2026-10/attendance v1"]
    assert [results[d].delivered for d in range(1, 7)] == [0, 0, 0, 4, 0, 0]  # s1's two and s2's two
    assert delivered_on(school["engine"]) == {date(2026, 11, 4)}
    assert warnings(school["engine"]) == []
    assert sorted((d.subject, d.kind) for d in receiver.state.deliveries) == [
        ("s1", "attendance"),
        ("s1", "meals"),
        ("s2", "attendance"),
        ("s2", "meals"),
    ]


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


def test_the_sums_of_a_region_and_the_country_wait_for_their_schools_and_go_to_the_ministry(
    school: dict[str, Any],  # noqa: F811
    client: TestClient,
) -> None:
    engine = school["engine"]
    with engine.begin() as conn:
        conn.execute(
            insert(schools),
            [
                {"school_id": "s1", "name": "№ 1", "region_id": "almaty"},
                {"school_id": "s2", "name": "№ 2", "region_id": "almaty"},
            ],
        )
        public = ensure_report_key(conn).public_key()
        account = create_account(conn, "akimat@almaty.kz", actor=SYSTEM, password="correct horse battery")
        grant_role(conn, account.id, Role.REGION, "almaty", actor=SYSTEM)
    with ReceiverServer(public) as ministry, ReceiverServer(public) as authority:
        authority.state.down = True  # the education authority's endpoint never answers this week
        receivers = Receivers(schools={"authority": authority.url}, regions={"ministry": ministry.url})
        results = {
            day: asyncio.run(run_day(engine, receivers, datetime(2026, 11, day, 10, tzinfo=LOCAL_TZ)))
            for day in range(1, 5)
        }
        got = sorted((d.subject, d.kind, d.version) for d in ministry.state.deliveries)
    assert not any("region" in i or "country" in i for d in (1, 2) for i in results[d].issued)  # s2 still silent
    assert {"almaty/2026-10/region v1", "KZ/2026-10/country v1"} <= set(results[3].issued)
    assert got == [("KZ", "country", 1), ("almaty", "region", 1)]  # verified and acknowledged by the ministry
    assert warnings(engine, "s1") == [("attendance", date(2026, 11, 4)), ("meals", date(2026, 11, 4))]
    assert warnings(engine, "almaty") == [] and warnings(engine, "KZ") == []

    region = sign_in(client, "akimat@almaty.kz", "correct horse battery")
    seen = client.get("/v1/regions/almaty/reports", headers=region).json()
    assert [(r["kind"], r["version"], [d["state"] for d in r["deliveries"]]) for r in seen["reports"]] == [
        ("region", 1, ["delivered"])
    ]
    assert sorted((w["subject"], w["kind"]) for w in seen["warnings"]) == [
        ("s1", "attendance"),
        ("s1", "meals"),
        ("s2", "attendance"),
        ("s2", "meals"),
    ]  # the region is told of its schools' reports nobody acknowledged
    content = client.get("/v1/regions/almaty/reports/2026-10/1/region.json", headers=region)
    assert RegionReport.model_validate_json(content.content).schools[0].school_id == "s1"
    assert client.get("/v1/country/reports", headers=region).status_code == 403  # the ministry's, not a region's
