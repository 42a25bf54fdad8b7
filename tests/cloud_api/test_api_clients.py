"""Scoped API clients: a system gets a token with its scopes, reads what they open at the schools it
reaches, no more; consent is respected; every call is journalled and limited a minute."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud_api.db.schema import integration_tokens, people
from cloud_api.integrations.calls import recent_calls
from cloud_api.integrations.clients import create_client, revoke_client, rotate_secret
from cloud_api.integrations.tokens import MAX_LIVE_TOKENS
from cloud_api.services.consent import set_consent
from cloud_api.services.schools import place_school
from tests.cloud_api.helpers import event
from tests.cloud_api.school import CHILD, FATHER, MOTHER, OTHER_CHILD, TEEN, World
from tests.cloud_api.test_push import ingest

ON_CITUS = ["test_a_system_with_the_attendance_scope_reads_a_class_day_and_is_refused_the_roster"]
DAY = "2026-11-20"
TOKEN = "/v1/oauth/token"


def register(world: World, *scopes: str, **options: Any) -> tuple[str, str]:
    """A system of region almaty (schools s1 and s2) with ``scopes``; its client id and secret."""
    with world.app.state.engine.begin() as conn:
        place_school(conn, "s1", "School 1", "almaty")
        place_school(conn, "s2", "School 2", "almaty")
        place_school(conn, "s3", "School 3", "astana")
        options.setdefault("region_id", "almaty")
        client, secret = create_client(
            conn, name="Kundelik", actor="account:test", now=datetime.now(UTC), scopes=scopes, **options
        )
    return client.client_id, secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token(c: TestClient, client_id: str, secret: str, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    r = c.post(TOKEN, data=form, headers=basic(client_id, secret))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def consent(world: World, child: str, given: bool = True) -> None:
    with world.app.state.engine.begin() as conn:
        guardian = FATHER if child == OTHER_CHILD else MOTHER
        set_consent(conn, "s1", world.ids[child], world.ids[guardian], given, actor="test")


def class_of(world: World, iin: str) -> str:
    with world.app.state.engine.connect() as conn:
        return conn.execute(select(people.c.class_name).where(people.c.id == world.ids[iin])).scalar_one()


def a_day(world: World) -> None:
    child, other, teen = (str(world.ids[i]) for i in (CHILD, OTHER_CHILD, TEEN))
    lunch = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
    ingest(
        world,
        event(1, person_id=child, reason="on_roster", at=f"{DAY}T07:55:00+05:00"),
        event(2, person_id=other, reason="on_roster", at=f"{DAY}T07:56:00+05:00"),
        event(3, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=f"{DAY}T12:10:00+05:00"),
        event(4, kind="meal", person_id=other, reason="on_roster", meal=lunch, at=f"{DAY}T12:11:00+05:00"),
        event(5, kind="exit", person_id=child, reason="on_roster", at=f"{DAY}T13:30:00+05:00"),
        event(6, kind="entry", person_id=child, reason="on_roster", at=f"{DAY}T14:00:00+05:00"),
        event(7, kind="exit", person_id=child, reason="on_roster", at=f"{DAY}T15:40:00+05:00"),
        event(8, person_id=teen, reason="on_roster", at=f"{DAY}T08:01:00+05:00"),
        event(9, reason="no_consent", at=f"{DAY}T08:02:00+05:00"),  # a child without consent: no identity
    )


def test_a_system_with_the_attendance_scope_reads_a_class_day_and_is_refused_the_roster(world: World) -> None:
    client_id, secret = register(world, "attendance:read")
    consent(world, CHILD)
    consent(world, TEEN)
    a_day(world)
    c = world.client
    bearer = token(c, client_id, secret)
    class_3b = class_of(world, CHILD)
    day = c.get("/v1/integrations/schools/s1/attendance", params={"date": DAY, "class_name": class_3b}, headers=bearer)
    assert day.status_code == 200, day.text
    [student] = day.json()["students"]  # the class has one student; the teen is of another class
    assert student["student_id"] == str(world.ids[CHILD]) and student["class_name"] == class_3b
    assert student["first_entry"] == f"{DAY}T07:55:00+05:00" and student["last_exit"] == f"{DAY}T15:40:00+05:00"
    assert [p["kind"] for p in student["passes"]] == ["entry", "exit", "entry", "exit"]
    assert "iin" not in day.text.lower() and CHILD not in day.text
    refused = c.get("/v1/integrations/schools/s1/roster", headers=bearer)
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "scope_not_granted"
    assert (
        c.get("/v1/integrations/schools/s3/attendance", params={"date": DAY}, headers=bearer).json()["detail"]["code"]
        == "school_not_served"
    )
    with world.app.state.engine.connect() as conn:
        calls = recent_calls(conn, client_id)
    assert [(k.status, k.rows, k.school_id) for k in calls[:3]] == [(403, 0, "s3"), (403, 0, "s1"), (200, 1, "s1")]
    assert calls[-1].path == TOKEN and calls[-1].status == 200


def test_a_child_without_consent_is_absent_from_the_feeds(world: World) -> None:
    client_id, secret = register(world, "attendance:read", "meals:read", "roster:read")
    consent(world, CHILD)
    consent(world, OTHER_CHILD)
    consent(world, OTHER_CHILD, False)  # withdrawn: the days before the withdrawal go too
    a_day(world)
    c = world.client
    bearer = token(c, client_id, secret)
    day = c.get("/v1/integrations/schools/s1/attendance", params={"date": DAY}, headers=bearer).json()
    assert [s["student_id"] for s in day["students"]] == [str(world.ids[CHILD])]  # the teen: never asked
    meals = c.get("/v1/integrations/schools/s1/meals", params={"date": DAY}, headers=bearer).json()["meals"]
    assert [(m["student_id"], m["period"], m["category"], m["dishes"]) for m in meals] == [
        (str(world.ids[CHILD]), "lunch", "free", ["Палау"])
    ]
    assert "price" not in str(meals)
    # The roster is the school's list, whatever the consent: the e-diary matches its students by it.
    roster = c.get("/v1/integrations/schools/s1/roster", headers=bearer).json()["students"]
    assert {r["student_id"] for r in roster} == {str(world.ids[i]) for i in (CHILD, TEEN, OTHER_CHILD)}
    assert all(
        set(r) == {"student_id", "last_name", "first_name", "middle_name", "class_name", "grade", "language"}
        for r in roster
    )


def test_the_token_endpoint_keeps_rfc_6749(world: World) -> None:
    client_id, secret = register(world, "attendance:read", "meals:read")
    c = world.client
    # client_secret_post, one scope of two.
    r = c.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "scope": "meals:read meals:read",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert r.status_code == 200 and r.json()["scope"] == "meals:read" and r.json()["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert c.get("/v1/integrations/schools/s1/attendance", params={"date": DAY}, headers=bearer).status_code == 403
    # No scope asked: every scope the system has.
    assert c.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)).json()[
        "scope"
    ] == ("attendance:read meals:read")
    for _ in range(3):
        wrong = c.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret + "x"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert wrong.headers["www-authenticate"].startswith("Basic")
    with world.app.state.engine.connect() as conn:
        refused = [k.code for k in recent_calls(conn, client_id, refused_only=True)]
    assert refused == ["invalid_client", "scope_not_granted"]  # of the wrong secrets, one a minute
    more = c.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "roster:read"}, headers=basic(client_id, secret)
    )
    assert more.status_code == 400 and more.json()["error"] == "invalid_scope"
    other = c.post(TOKEN, data={"grant_type": "password"}, headers=basic(client_id, secret))
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"
    as_json = c.post(TOKEN, json={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    nobody = c.get("/v1/integrations/schools", headers={"Authorization": "Bearer nothing"})
    assert nobody.status_code == 401 and nobody.json()["detail"]["code"] == "api_token_required"
    assert nobody.headers["www-authenticate"] == "Bearer"


def test_a_rotated_secret_overlaps_and_a_revoked_system_stops_at_once(world: World) -> None:
    client_id, old = register(world, "roster:read")
    c = world.client
    before = token(c, client_id, old)
    with world.app.state.engine.begin() as conn:
        new = rotate_secret(conn, client_id, actor="test", now=datetime.now(UTC))
    token(c, client_id, old)  # within the overlap
    token(c, client_id, new)
    world.app.state.integration_clock = lambda: datetime.now(UTC) + timedelta(hours=25)
    refused = c.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(client_id, old))
    assert refused.status_code == 401
    fresh = token(c, client_id, new)
    assert c.get("/v1/integrations/schools/s1/roster", headers=fresh).status_code == 200
    assert c.get("/v1/integrations/schools/s1/roster", headers=before).status_code == 401  # an hour long
    with world.app.state.engine.begin() as conn:
        revoke_client(conn, client_id, actor="test", now=datetime.now(UTC))
    assert c.get("/v1/integrations/schools/s1/roster", headers=fresh).status_code == 401
    assert c.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(client_id, new)).status_code == 401


def test_over_the_limit_a_minute_is_429_then_ok_the_next_minute(world: World) -> None:
    client_id, secret = register(world, "roster:read", rate_per_minute=3)
    minute = datetime(2026, 12, 7, 9, 0, 40, tzinfo=UTC)
    world.app.state.integration_clock = lambda: minute
    c = world.client
    bearer = token(c, client_id, secret)
    for _ in range(3):
        assert c.get("/v1/integrations/schools/s1/roster", headers=bearer).status_code == 200
    over = c.get("/v1/integrations/schools/s1/roster", headers=bearer)
    assert over.status_code == 429 and over.json()["detail"]["code"] == "rate_limited"
    assert over.headers["retry-after"] == "20"
    assert "mektep_integration_rate_limited_total" in c.get("/metrics").text
    assert c.get("/v1/integrations/schools/s1/roster", headers=bearer).status_code == 429
    minute = minute + timedelta(seconds=20)
    assert c.get("/v1/integrations/schools/s1/roster", headers=bearer).status_code == 200
    with world.app.state.engine.connect() as conn:
        statuses = [k.status for k in recent_calls(conn, client_id)]
    assert statuses == [200, 429, 200, 200, 200, 200]  # of the calls over the limit, the minute's first


@pytest.mark.parametrize("scope", ["attendance:read", "meals:read", "roster:read"])
def test_the_openapi_document_shows_each_routes_scope(world: World, scope: str) -> None:
    spec = world.client.get("/openapi.json").json()
    flows = spec["components"]["securitySchemes"]["apiClient"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == TOKEN and scope in flows["scopes"]
    route = {"attendance:read": "attendance", "meals:read": "meals", "roster:read": "roster"}[scope]
    assert spec["paths"][f"/v1/integrations/schools/{{school_id}}/{route}"]["get"]["security"] == [
        {"apiClient": [scope]}
    ]


def test_a_system_asking_in_a_loop_keeps_only_its_newest_tokens(world: World) -> None:
    client_id, secret = register(world, "roster:read")
    first = token(world.client, client_id, secret)
    for _ in range(MAX_LIVE_TOKENS):
        last = token(world.client, client_id, secret)
    with world.app.state.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(integration_tokens)).scalar() == MAX_LIVE_TOKENS
    assert world.client.get("/v1/integrations/schools", headers=first).status_code == 401
    assert world.client.get("/v1/integrations/schools", headers=last).json()["schools"][0]["school_id"] == "s1"
