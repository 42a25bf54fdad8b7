"""The fleet: every gateway judged from its last heartbeat, worst first; the school's page, the region's
and the deployment's lists in the office (files and the JSON twin too).

Schools s1 and s2 in region almaty, s3 in abay; gw1 (s1) reported three minutes ago with a reader
offline, gw2 (s2) was last heard from an hour ago with its disk nearly full, gw3 (s3) never reported.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.db.schema import schools
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.fleet import count_states, fleet_states, gateway_day, judge, sort_states
from cloud_api.services.gateway_health import store_heartbeat
from cloud_api.services.gateways import GatewayRecord, register_gateway
from cloud_api.services.signatures import SignedBody
from shared.contract import Heartbeat
from tests.cloud_api.helpers import KEY, sign_in

ON_CITUS = {"test_the_fleet_is_judged_worst_first_and_a_day_is_read_hour_by_hour", "test_the_region_lists_its_gateways"}

PASSWORD = "correct horse battery"
STAFF = {
    "head@s1.kz": [(Role.SCHOOL_ADMIN, "s1")],
    "cook@s1.kz": [(Role.CANTEEN_STAFF, "s1")],
    "akimat@almaty.kz": [(Role.REGION, "almaty")],
    "it@mektep.kz": [(Role.DEPLOYMENT_ADMIN, None)],
    "it@s1.kz": [(Role.SCHOOL_IT, "s1")],
    "it@almaty.kz": [(Role.REGION_IT, "almaty")],
}
_signatures = iter(range(1_000_000))


def beat(gateway: str, at: datetime, **fields: Any) -> Heartbeat:
    """A healthy heartbeat sent at ``at``, with ``fields`` changed."""
    example = dict(Heartbeat.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    return Heartbeat.model_validate({**example, "gateway_id": gateway, "sent_at": at.isoformat(), **fields})


def receive(conn: Any, school: str, gateway: str, at: datetime, **fields: Any) -> None:
    """Store a heartbeat as if it arrived at ``at`` (signed: each its own signature)."""
    signed = SignedBody(GatewayRecord(gateway, school, KEY.encode()), b"{}", "0", f"sig-{next(_signatures)}")
    store_heartbeat(conn, signed, gateway, beat(gateway, at, **fields), at)


def fill(conn: Any, now: datetime, *, register: tuple[str, ...] = ("gw1", "gw2", "gw3")) -> None:
    """The three schools and their gateways of the module's docstring (``register``: those not yet registered)."""
    conn.execute(
        insert(schools),
        [
            {"school_id": "s1", "name": "Школа № 1", "region_id": "almaty"},
            {"school_id": "s2", "name": "Школа № 2", "region_id": "almaty"},
            {"school_id": "s3", "name": "Абай мектебі", "region_id": "abay"},
        ],
    )
    for gateway, school in (("gw1", "s1"), ("gw2", "s2"), ("gw3", "s3")):
        if gateway in register:
            register_gateway(conn, gateway, school, KEY)
    for minutes in range(63, 3, -1):  # gw1: a heartbeat a minute, its reader offline for the last ten
        parts = {"link:turnstile-1": "offline" if minutes <= 12 else "ok", "forwarder": "ok"}
        receive(conn, "s1", "gw1", now - timedelta(minutes=minutes), parts=parts, outbox_pending=4)
    receive(conn, "s2", "gw2", now - timedelta(hours=1), disk_free_ratio=0.05, disk_free_bytes=2_000_000_000)


@pytest.fixture
def fleet(client: TestClient) -> Engine:
    """The module's fleet on the started app, and an account of each kind."""
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        fill(conn, datetime.now(UTC), register=("gw3",))  # the client registered gw1 and gw2
        for login, grants in STAFF.items():
            account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
            for role, scope in grants:
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
    return engine


def as_(client: TestClient, login: str) -> TestClient:
    token = sign_in(client, login, PASSWORD)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    return client


def get(client: TestClient, path: str, language: str = "ru") -> Any:
    return client.get(path, headers={"Accept-Language": language})


def test_the_fleet_is_judged_worst_first_and_a_day_is_read_hour_by_hour(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        fill(conn, now)
    with engine.connect() as conn:
        every = fleet_states(conn, now)
        almaty = fleet_states(conn, now, region_id="almaty")
        day = gateway_day(conn, "s1", "gw1", now)
    by_id = {s.gateway_id: s for s in every}
    assert by_id["gw1"].problems == ("reader_offline",) and by_id["gw1"].readers == [("turnstile-1", "offline")]
    assert by_id["gw2"].problems == ("silent", "disk_low")  # an hour without a word, and its disk nearly full
    assert by_id["gw3"].problems == ("silent",) and by_id["gw3"].health is None  # never reported
    assert {s.gateway_id for s in almaty} == {"gw1", "gw2"}
    # worst first: the silent ones, the one never heard from before the one an hour ago
    assert [s.gateway_id for s in sort_states(every, "problem")] == ["gw3", "gw2", "gw1"]
    assert sort_states(every, "backlog")[0].gateway_id == "gw1"
    assert count_states(every)["silent"] == 2 and count_states(every)["ok"] == 0
    assert len(day) == 24 and sum(h.beats for h in day) == 60
    troubled = [h for h in day if "reader_offline" in h.ordered_problems]
    assert 1 <= len(troubled) <= 2  # the last ten minutes fall in one hour or two
    assert day[0].ordered_problems == ["silent"]  # a day ago: nothing arrived


def test_each_threshold_makes_its_own_problem() -> None:
    now = datetime.now(UTC)
    healthy = {
        "received_at": now - timedelta(seconds=30),
        "parts": {"link:a": "ok", "forwarder": "ok", "pages": "off"},
        "links": {"eth0": True},
        "oldest_pending_age_s": 30.0,
        "disk_free_ratio": 0.5,
        "clock_offset_s": 0.1,
        "reported_clock_offset_s": None,
    }
    assert judge(healthy, now) == ()
    assert judge({**healthy, "received_at": now - timedelta(minutes=11)}, now) == ("silent",)
    assert judge({**healthy, "parts": {"forwarder": "stopped"}}, now) == ("part_failing",)
    assert judge({**healthy, "links": {"eth0": False}}, now) == ("part_failing",)
    assert judge({**healthy, "oldest_pending_age_s": 3700.0}, now) == ("backlog_old",)
    assert judge({**healthy, "disk_free_ratio": 0.1}, now) == ("disk_low",)
    # the gateway's own measure wins over the cloud's, which carries the trip
    assert judge({**healthy, "clock_offset_s": 0.5, "reported_clock_offset_s": -3.0}, now) == ("clock_off",)


def test_the_school_sees_its_gateway_and_readers_in_words(fleet: Engine, client: TestClient) -> None:
    as_(client, "head@s1.kz")
    page = get(client, "/office/schools/s1/fleet")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Шлюз gw1" in text and "4 минуты назад" in text  # last contact as people say it
    assert "Считыватель не в сети" in text and "Проверьте кабель и питание считывателя." in text
    assert "turnstile-1" in text and "Связь за последние 24 часа" in text and "<svg" in text
    assert 'href="/office/alerts"' in text  # alerts have their own page
    assert 'href="/office/schools/s1/fleet" aria-current="page"' in text  # in the school's navigation
    kazakh = get(client, "/office/schools/s1/fleet", "kk").text
    assert "Карта оқығыш желіден тыс" in kazakh and "4 минут бұрын" in kazakh
    assert get(client, "/office/schools/s2/fleet").status_code == 403  # another school's
    mine = client.get("/office/fleet", follow_redirects=False)  # the link a notice carries
    assert (mine.status_code, mine.headers["location"]) == (303, "/office/schools/s1/fleet")
    as_(client, "cook@s1.kz")
    assert get(client, "/office/schools/s1/fleet").status_code == 403  # the administrator's page
    assert get(client, "/office/fleet").status_code == 403


def test_the_region_lists_its_gateways(fleet: Engine, client: TestClient) -> None:
    as_(client, "akimat@almaty.kz")
    page = get(client, "/office/regions/almaty/fleet")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Школа № 1" in text and "Школа № 2" in text and "Абай мектебі" not in text
    assert text.index("Школа № 2") < text.index("Школа № 1")  # the silent one first
    assert "Нет связи" in text and "Диск почти заполнен" in text and "1 час назад" in text
    only = get(client, "/office/regions/almaty/fleet?state=reader_offline").text
    assert "Школа № 1" in only and "Школа № 2" not in only
    sheet = get(client, "/office/regions/almaty/fleet?format=csv&sort=school")
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert [r[3] for r in rows[1:]] == ["gw1", "gw2"] and rows[2][4] == "Нет связи; Диск почти заполнен"
    school = get(client, "/office/regions/almaty/fleet/s1")
    assert school.status_code == 200 and "Считыватель не в сети" in school.text
    assert get(client, "/office/regions/almaty/fleet/s3").status_code == 404  # not the region's school
    assert get(client, "/office/regions/abay/fleet").status_code == 403
    assert get(client, "/office/deployment/fleet").status_code == 403
    assert client.get("/office/fleet", follow_redirects=False).headers["location"] == "/office/regions/almaty/fleet"


def test_the_it_contacts_an_alert_is_sent_to_open_its_fleet_page(fleet: Engine, client: TestClient) -> None:
    """The school's and the region's IT hear of alerts with a link to the fleet: the page must open for them."""
    as_(client, "it@s1.kz")
    page = get(client, "/office/schools/s1/fleet").text
    assert "Считыватель не в сети" in page
    assert 'href="/office/schools/s1/alerts"' in page  # in the IT contact's navigation, with the fleet
    assert client.get("/office/fleet", follow_redirects=False).headers["location"] == "/office/schools/s1/fleet"
    assert get(client, "/office/schools/s1/alerts").status_code == 200
    assert get(client, "/office/schools/s2/fleet").status_code == 403
    as_(client, "it@almaty.kz")
    assert "Школа № 1" in get(client, "/office/regions/almaty/fleet").text
    assert client.get("/office/fleet", follow_redirects=False).headers["location"] == "/office/regions/almaty/fleet"
    assert get(client, "/office/regions/almaty/alerts").status_code == 200
    assert get(client, "/office/regions/abay/fleet").status_code == 403


def test_the_deployment_lists_every_gateway_with_a_json_twin(fleet: Engine, client: TestClient) -> None:
    as_(client, "it@mektep.kz")
    page = get(client, "/office/deployment/fleet?sort=school")
    assert page.status_code == 200 and "Абай мектебі" in page.text and 'href="/office/deployment/fleet/s3"' in page.text
    data = get(client, "/office/deployment/fleet?format=json&state=silent").json()
    assert data["counts"]["silent"] == 2 and data["total"] == 2
    assert [g["gateway_id"] for g in data["gateways"]] == ["gw3", "gw2"]
    assert data["gateways"][1]["disk_free_ratio"] == 0.05 and data["gateways"][0]["last_contact"] is None
    assert json.loads(get(client, "/office/deployment/fleet?format=json&q=gw1").text)["total"] == 1
    never = get(client, "/office/deployment/fleet/s3").text
    assert "Шлюз ещё не выходил на связь" in never
