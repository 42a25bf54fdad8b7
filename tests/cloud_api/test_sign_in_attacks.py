"""Sign-in under attack: lockouts a stranger cannot cause, spraying slowed, guessing through a password
change counted, weak passwords refused (NIST SP 800-63B), and hashes bounded in number."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import sign_in_attempts
from cloud_api.services.accounts import CLIENT_MAX_FAILURES, MAX_FAILURES, change_password, client_key, sign_in
from cloud_api.services.passwords import HashSlots, check_password
from tests.cloud_api.helpers import admin
from tests.cloud_api.school import PASSWORD, World

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_a_stranger_who_guesses_locks_out_only_themselves",
    "test_every_failed_sign_in_is_seen_by_the_deployment_admin",
)

FAMILY = "10.1.1.1"
STRANGER = "203.0.113.9"


def test_a_stranger_who_guesses_locks_out_only_themselves(world: World) -> None:
    now = datetime.now(UTC)
    with world.app.state.engine.begin() as conn:
        for _ in range(MAX_FAILURES):
            assert sign_in(conn, "father@mail.kz", "guess", ip=STRANGER, now=now).reason == "bad_password"
        locked = sign_in(conn, "father@mail.kz", PASSWORD, ip=STRANGER, now=now)
        assert locked.reason == "locked" and locked.until == now + timedelta(minutes=15)
        # The family, at home, signs in as ever.
        assert sign_in(conn, "father@mail.kz", PASSWORD, ip=FAMILY, now=now).ok
        # And the stranger is locked out only until the lock ends.
        assert sign_in(conn, "father@mail.kz", PASSWORD, ip=STRANGER, now=now + timedelta(minutes=16)).ok


def test_the_lock_answers_429_with_when_to_come_back(world: World) -> None:
    for _ in range(MAX_FAILURES):
        world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": "guess"})
    r = world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": PASSWORD})
    assert (r.status_code, r.json()["detail"]["code"]) == (429, "login_locked")
    assert 800 < int(r.headers["retry-after"]) <= 900


def test_spraying_one_password_over_many_logins_is_stopped(world: World) -> None:
    now = datetime.now(UTC)
    with world.app.state.engine.begin() as conn:
        for i in range(CLIENT_MAX_FAILURES):
            sign_in(conn, f"parent{i}@mail.kz", "Qwerty123!", ip=STRANGER, now=now + timedelta(seconds=i))
        # From that address even a right password of an account nobody tried is refused now ...
        refused = sign_in(conn, "father@mail.kz", PASSWORD, ip=STRANGER, now=now + timedelta(minutes=1))
        assert refused.reason == "client_throttled"
        assert refused.until == now + timedelta(minutes=15)
        # ... refusing it hashed nothing and counts as no guess ...
        assert sign_in(conn, "father@mail.kz", PASSWORD, ip=FAMILY, now=now + timedelta(minutes=1)).ok
        # ... and the address may try again once its failures are older than 15 minutes.
        assert sign_in(conn, "father@mail.kz", PASSWORD, ip=STRANGER, now=now + timedelta(minutes=16)).ok


def test_ipv6_clients_are_counted_by_their_64(world: World) -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:10.1.1.1") == "10.1.1.1"
    now = datetime.now(UTC)
    with world.app.state.engine.begin() as conn:
        for i in range(MAX_FAILURES):
            sign_in(conn, "father@mail.kz", "guess", ip=f"2001:db8:1:2::{i + 1}", now=now)
        assert sign_in(conn, "father@mail.kz", PASSWORD, ip="2001:db8:1:2::77", now=now).reason == "locked"


def test_wrong_old_passwords_on_a_change_count_as_failed_sign_ins(world: World) -> None:
    headers = world.token("father@mail.kz")
    new = {"new_password": "a much better passphrase"}
    for _ in range(MAX_FAILURES):
        r = world.client.post("/v1/me/password", headers=headers, json={"old_password": "guess", **new})
        assert r.json()["detail"]["code"] == "wrong_password"
    # Locked now: even the right old password is refused, and the password is unchanged.
    r = world.client.post("/v1/me/password", headers=headers, json={"old_password": PASSWORD, **new})
    assert (r.status_code, r.json()["detail"]["code"]) == (429, "login_locked")
    failures = world.client.get("/v1/schools/s1/sign-in-failures", headers=world.token("head@s1.kz")).json()
    assert [f["reason"] for f in failures if f["login"] == "father@mail.kz"] == ["locked"] + ["bad_password"] * 5
    with world.app.state.engine.begin() as conn:
        later = datetime.now(UTC) + timedelta(minutes=16)
        assert change_password(conn, world.ids["father"], PASSWORD, new["new_password"], actor="t", now=later) == "ok"


def test_every_failed_sign_in_is_seen_by_the_deployment_admin(world: World) -> None:
    for login in ("nobody@mail.kz", "ministry@edu.gov.kz", "head@s1.kz"):
        world.client.post("/v1/auth/sign-in", json={"login": login, "password": "guess"})
    everything = world.client.get("/v1/sign-in-failures", headers=admin()).json()
    assert {f["login"] for f in everything} == {"nobody@mail.kz", "ministry@edu.gov.kz", "head@s1.kz"}
    school = world.client.get("/v1/schools/s1/sign-in-failures", headers=world.token("head@s1.kz")).json()
    assert {f["login"] for f in school} == {"head@s1.kz"}
    assert world.client.get("/v1/sign-in-failures", headers=world.token("head@s1.kz")).status_code == 403
    with world.app.state.engine.connect() as conn:
        assert conn.execute(select(sign_in_attempts.c.ip).where(sign_in_attempts.c.login == "nobody@mail.kz")).scalar()


# -- the password policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "staff", "code"),
    [
        ("1234567890", True, "password_too_short"),
        ("1234567890", False, "password_too_common"),
        (" " * 10, False, "password_too_common"),
        (" " * 12, True, "password_too_common"),
        ("qwertyuiop", False, "password_too_common"),
        ("password1234", True, "password_too_common"),
        ("aaaaaaaaaaaaaaaa", True, "password_too_common"),
        ("head@s1.kz is me", True, "password_contains_login"),
        ("short12", False, "password_too_short"),
        ("x" * 300, True, "password_too_long"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, staff: bool, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_password(password, "head@s1.kz", staff=staff)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("password", "staff"),
    [
        ("kxqzmvtr", False),  # 8 characters are enough for a family
        ("Алма ағашы гүлдеді", True),  # any letters, spaces too: no composition rules
        ("correct horse battery", True),
    ],
)
def test_good_passwords_pass_without_composition_rules(password: str, staff: bool) -> None:
    check_password(password, "head@s1.kz", staff=staff)


def test_a_phone_login_is_not_a_password(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        check_password("my 7012345678 pass", "+77012345678", staff=False)
    assert refused.value.code == "password_contains_login"


def test_a_school_admin_cannot_be_given_a_weak_password(world: World) -> None:
    head = world.token("head@s1.kz")
    for weak, code in (("1234567890", "password_too_short"), ("          ", "password_too_short")):
        body = {"login": "deputy@s1.kz", "password": weak, "school_id": "s1"}
        r = world.client.post("/v1/accounts", headers={**head, "Accept-Language": "ru"}, json=body)
        assert (r.status_code, r.json()["detail"]["code"]) == (422, code)
        assert "12" in r.json()["detail"]["message"]
    r = world.client.post(
        "/v1/me/password", headers=head, json={"old_password": PASSWORD, "new_password": "123456789012"}
    )
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "password_too_common")


# -- hashing bounded ---------------------------------------------------------------------------------


def test_no_more_hashes_run_at_once_than_there_are_slots_and_a_flood_is_told_to_wait() -> None:
    running = 0
    most = 0

    def hash_like() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        time.sleep(0.02)
        running -= 1

    async def flood() -> list[object]:
        slots = HashSlots(2, max_waiting=10)
        return await asyncio.gather(*(slots.run(hash_like) for _ in range(20)), return_exceptions=True)

    outcomes = asyncio.run(flood())
    busy = [o for o in outcomes if isinstance(o, DomainError)]
    assert most == 2
    # Two run at once, ten wait; the rest are told at once to come back.
    assert len(busy) == 8 and {b.code for b in busy} == {"busy"}
