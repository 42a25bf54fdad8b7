"""Sessions as their users live them: staff for a working day and not a minute idle past 30, a family's phone
for 30 days with its token rotated, a list of one's devices, any of them signed out, a second factor reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select, update

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.db.schema import sessions, totp_secrets
from cloud_api.services.accounts import session_principal, sign_in
from cloud_api.services.audit import audit_entries
from cloud_api.services.sessions import token_hash
from tests.cloud_api.helpers import admin
from tests.cloud_api.school import PASSWORD, World

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_each_user_lists_their_sessions_and_ends_one",
    "test_a_familys_phone_stays_signed_in_30_days_and_its_token_is_rotated_daily",
)


def _backdate(world: World, token: str, **delta: float) -> None:
    with world.app.state.engine.begin() as conn:
        earlier = datetime.now(UTC) - timedelta(**delta)
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == token_hash(token))
            .values(created_at=earlier, last_seen_at=earlier)
        )


def test_a_staff_session_ends_after_30_minutes_idle_and_after_12_hours(world: World) -> None:
    headers = world.token("head@s1.kz")
    token = headers["Authorization"].removeprefix("Bearer ")
    with world.app.state.engine.begin() as conn:
        now = datetime.now(UTC)
        assert session_principal(conn, token, now=now + timedelta(minutes=29)) is not None  # seen: idle starts again
        assert session_principal(conn, token, now=now + timedelta(minutes=58)) is not None
        assert session_principal(conn, token, now=now + timedelta(hours=12, minutes=1)) is None  # the day is over
    _backdate(world, token, minutes=31)
    assert world.client.get("/v1/me", headers=headers).status_code == 401  # idle for 31 minutes


def test_a_familys_phone_stays_signed_in_30_days_and_its_token_is_rotated_daily(world: World) -> None:
    with world.app.state.engine.begin() as conn:
        opened = sign_in(conn, "father@mail.kz", PASSWORD)
        assert opened.ok and opened.expires_at is not None
        assert opened.expires_at - datetime.now(UTC) > timedelta(days=29)
    old = opened.token
    assert old is not None
    _backdate(world, old, days=2)
    world.client.cookies.set(SESSION_COOKIE, old)
    page = world.client.get("/app/")
    assert page.status_code == 200
    new = page.cookies.get(SESSION_COOKIE)
    assert new and new != old  # the phone got a new token with the page
    with world.app.state.engine.begin() as conn:
        later = datetime.now(UTC) + timedelta(minutes=2)
        assert session_principal(conn, old, now=later) is None  # the copied old token stops working
        assert session_principal(conn, new, now=later) is not None
        expires = conn.execute(select(sessions.c.expires_at).where(sessions.c.token_hash == token_hash(new))).scalar()
    assert expires - datetime.now(UTC) > timedelta(days=29)  # another 30 days from today


def test_each_user_lists_their_sessions_and_ends_one(world: World) -> None:
    laptop = world.token("+77012345678")
    phone = world.client.post(
        "/v1/auth/sign-in",
        json={"login": "+77012345678", "password": PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile"},
    ).json()["token"]
    listed = world.client.get("/v1/me/sessions", headers=laptop).json()
    assert len(listed) == 2 and [s["current"] for s in listed].count(True) == 1
    on_phone = next(s for s in listed if "Android" in (s["user_agent"] or ""))
    assert on_phone["kind"] == "device" and on_phone["method"] == "password" and on_phone["ip"]
    assert world.client.delete(f"/v1/me/sessions/{on_phone['id']}", headers=laptop).status_code == 204
    assert world.client.get("/v1/me", headers={"Authorization": f"Bearer {phone}"}).status_code == 401
    assert world.client.get("/v1/me", headers=laptop).status_code == 200
    # Nobody ends another's session: an id of someone else's is not found.
    other = world.client.get("/v1/me/sessions", headers=world.token("father@mail.kz")).json()[0]["id"]
    assert world.client.delete(f"/v1/me/sessions/{other}", headers=laptop).status_code == 404


def test_the_api_asks_staff_for_the_second_factor(world: World) -> None:
    world.token("cook@s1.kz")  # the first sign-in enrolled the cook's app
    body = {"login": "cook@s1.kz", "password": PASSWORD}
    asked = world.client.post("/v1/auth/sign-in", json=body)
    assert (asked.status_code, asked.json()["detail"]["code"]) == (401, "second_factor_required")
    wrong = world.client.post("/v1/auth/sign-in", json={**body, "code": "000000"})
    assert (wrong.status_code, wrong.json()["detail"]["code"]) == (401, "second_factor_failed")
    with world.app.state.engine.connect() as conn:
        secret = conn.execute(
            select(totp_secrets.c.secret).where(totp_secrets.c.account_id == world.ids["cook1"])
        ).scalar_one()
    code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    good = world.client.post("/v1/auth/sign-in", json={**body, "code": code})
    assert good.status_code == 200 and good.json()["stage"] == "full"
    again = world.client.post("/v1/auth/sign-in", json={**body, "code": code})
    assert again.json()["detail"]["code"] == "second_factor_failed"  # a code works once
    failures = world.client.get("/v1/schools/s1/sign-in-failures", headers=world.token("head@s1.kz")).json()
    assert [f["reason"] for f in failures if f["login"] == "cook@s1.kz"] == ["bad_code", "bad_code"]


def test_an_admin_resets_a_staff_members_second_factor(world: World) -> None:
    cook = world.token("cook@s1.kz")
    head = world.token("head@s1.kz")
    reset = f"/v1/accounts/{world.ids['cook1']}/second-factor/reset"
    assert world.client.post(reset, headers=world.token("cook@s2.kz")).status_code == 403
    assert world.client.post(f"/v1/accounts/{world.ids['head1']}/second-factor/reset", headers=head).status_code == 403
    assert world.client.post(reset, headers=head).status_code == 204
    assert world.client.get("/v1/me", headers=cook).status_code == 401  # every session of the cook ended
    again = world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": PASSWORD})
    assert again.json()["stage"] == "enrol"  # the cook sets the app up anew
    assert (
        world.client.post(f"/v1/accounts/{world.ids['head1']}/second-factor/reset", headers=admin()).status_code == 204
    )
    with world.app.state.engine.connect() as conn:
        trail = [e for e in audit_entries(conn, "s1", "account") if e["after"].get("second_factor") == "reset"]
    assert [e["actor"] for e in trail] == [f"account:{world.ids['head1']}", "system"]


def test_setting_up_a_new_phone_keeps_the_old_one_working_until_the_new_one_is_confirmed(world: World) -> None:
    cook = world.token("cook@s1.kz")
    begun = world.client.post("/v1/me/second-factor/totp", headers=cook).json()  # then abandoned
    body = {"login": "cook@s1.kz", "password": PASSWORD}
    asked = world.client.post("/v1/auth/sign-in", json=body)
    assert (
        asked.json()["detail"]["code"] == "second_factor_required"
    )  # not a fresh enrolment for whoever has the password
    with world.app.state.engine.connect() as conn:
        old = conn.execute(
            select(totp_secrets.c.secret).where(totp_secrets.c.account_id == world.ids["cook1"])
        ).scalar()
    assert old != begun["secret"]
    code = pyotp.TOTP(old).at(datetime.now(UTC) + timedelta(seconds=30))
    assert world.client.post("/v1/auth/sign-in", json={**body, "code": code}).status_code == 200
    # Confirming the new phone switches to it.
    new_code = pyotp.TOTP(begun["secret"]).now()
    confirmed = world.client.post("/v1/me/second-factor/totp/confirm", headers=cook, json={"code": new_code})
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    with world.app.state.engine.connect() as conn:
        now_secret = conn.execute(
            select(totp_secrets.c.secret).where(totp_secrets.c.account_id == world.ids["cook1"])
        ).scalar()
    assert now_secret == begun["secret"]
