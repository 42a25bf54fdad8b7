"""Accounts, sign-in, roles and who may read whom (Order No. 456 §5), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cloud_api.db.schema import sign_in_attempts
from cloud_api.services.accounts import (
    SYSTEM,
    Role,
    role_history,
    roles_in_force,
    sign_in,
)
from cloud_api.services.audit import audit_entries
from tests.cloud_api.helpers import admin
from tests.cloud_api.school import CHILD, FATHER, MOTHER, OTHER_CHILD, PASSWORD, S2_CHILD, TEEN, World

# -- signing in ------------------------------------------------------------------------------------


# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_sign_in_me_and_sign_out",
    "test_school_admin_creates_accounts_and_grants_roles_in_their_school_only",
    "test_a_person_route_shows_only_ones_own",
    "test_a_failed_sign_in_is_recorded_and_shown_to_the_school_admin_only",
)


def test_sign_in_me_and_sign_out(world: World) -> None:
    headers = world.token("+7 701 234 56 78")  # the same phone, written otherwise
    me = world.client.get("/v1/me", headers=headers).json()
    assert me["login"] == "+77012345678" and me["roles"] == [{"role": "guardian", "scope": "s1"}]
    assert "password_hash" not in me
    assert world.client.post("/v1/auth/sign-out", headers=headers).status_code == 204
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    assert world.client.get("/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_a_failed_sign_in_is_recorded_and_shown_to_the_school_admin_only(world: World) -> None:
    r = world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": "wrong password"})
    assert (r.status_code, r.json()["detail"]["code"]) == (401, "sign_in_failed")
    ru = world.client.post(
        "/v1/auth/sign-in", json={"login": "nobody@s1.kz", "password": "x"}, headers={"Accept-Language": "ru"}
    )
    # an unknown login gets the very same answer as a wrong password
    assert ru.status_code == 401 and ru.json()["detail"] == {
        "code": "sign_in_failed",
        "message": "неверный логин или пароль",
    }
    head = world.token("head@s1.kz")
    failures = world.client.get("/v1/schools/s1/sign-in-failures", headers=head).json()
    assert [(f["login"], f["reason"]) for f in failures] == [("cook@s1.kz", "bad_password")]
    assert failures[0]["ip"]
    assert world.client.get("/v1/schools/s2/sign-in-failures", headers=head).status_code == 403
    assert world.client.get("/v1/schools/s1/sign-in-failures", headers=world.token("father@mail.kz")).status_code == 403
    assert world.client.get("/v1/schools/s1/sign-in-failures", headers=admin()).status_code == 200
    with world.app.state.engine.connect() as conn:
        reasons = [r.reason for r in conn.execute(select(sign_in_attempts).order_by(sign_in_attempts.c.id))]
    # every attempt, good or bad; the head teacher's first right password asks for an authenticator
    assert reasons == ["bad_password", "unknown_login", "enrol", "ok"]


def test_five_failures_in_15_minutes_lock_the_login_for_15_minutes(world: World) -> None:
    for _ in range(5):
        assert world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": "bad"}).status_code == 401
    locked = world.client.post("/v1/auth/sign-in", json={"login": "cook@s1.kz", "password": PASSWORD})
    assert (locked.status_code, locked.json()["detail"]["code"]) == (429, "login_locked")
    with world.app.state.engine.begin() as conn:
        later = datetime.now(UTC) + timedelta(minutes=16)
        assert sign_in(conn, "cook@s1.kz", PASSWORD, now=later).reason == "enrol"  # the password was taken
        # failures spread over more than 15 minutes lock nothing
        start = later + timedelta(minutes=1)
        for i in range(5):
            assert sign_in(conn, "head@s1.kz", "bad", now=start + timedelta(minutes=4 * i)).reason == "bad_password"
        assert sign_in(conn, "head@s1.kz", PASSWORD, now=start + timedelta(minutes=17)).reason == "enrol"
    # an unknown login locks too: a lock must not tell which logins exist
    for _ in range(5):
        world.client.post("/v1/auth/sign-in", json={"login": "ghost@s1.kz", "password": "bad"})
    r = world.client.post("/v1/auth/sign-in", json={"login": "ghost@s1.kz", "password": "bad"})
    assert r.status_code == 429


def test_password_change_needs_the_old_one_and_ends_the_sessions(world: World) -> None:
    headers = world.token("father@mail.kz")
    new = "a much better passphrase"
    wrong = world.client.post("/v1/me/password", headers=headers, json={"old_password": "guess", "new_password": new})
    assert (wrong.status_code, wrong.json()["detail"]["code"]) == (403, "wrong_password")
    short = world.client.post(
        "/v1/me/password", headers=headers, json={"old_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422
    ok = world.client.post("/v1/me/password", headers=headers, json={"old_password": PASSWORD, "new_password": new})
    assert ok.status_code == 204
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    assert (
        world.client.post("/v1/auth/sign-in", json={"login": "father@mail.kz", "password": PASSWORD}).status_code == 401
    )
    assert world.client.get("/v1/me", headers=world.token("father@mail.kz", new)).status_code == 200
    with world.app.state.engine.connect() as conn:
        trail = audit_entries(conn, "s1", "account")
    assert trail[-1]["after"] == {"password": "set"} and trail[-1]["actor"] == f"account:{world.ids['father']}"


# -- accounts and roles ----------------------------------------------------------------------------


def test_school_admin_creates_accounts_and_grants_roles_in_their_school_only(world: World) -> None:
    head = world.token("head@s1.kz")
    body = {"login": "Aunt@Mail.kz", "password": PASSWORD, "school_id": "s1"}
    r = world.client.post("/v1/accounts", headers=head, json=body)
    assert r.status_code == 201 and r.json()["login"] == "aunt@mail.kz" and r.json()["roles"] == []
    aunt = r.json()["id"]
    assert world.client.post("/v1/accounts", headers=head, json=body).json()["detail"]["code"] == "login_taken"
    assert (
        world.client.post("/v1/accounts", headers=head, json={**body, "login": "x@y.kz", "school_id": "s2"}).status_code
        == 403
    )
    mother = world.token("+77012345678")
    assert world.client.post("/v1/accounts", headers=mother, json={**body, "login": "x@y.kz"}).status_code == 403

    roles = f"/v1/accounts/{aunt}/roles"
    assert world.client.post(roles, headers=head, json={"role": "canteen_staff", "scope": "s1"}).json()["roles"] == [
        {"role": "canteen_staff", "scope": "s1"}
    ]
    for refused in ({"role": "canteen_staff", "scope": "s2"}, {"role": "ministry"}, {"role": "region", "scope": "r1"}):
        assert world.client.post(roles, headers=head, json=refused).status_code == 403
    assert world.client.post(roles, headers=mother, json={"role": "school_admin", "scope": "s1"}).status_code == 403
    revoked = world.client.post(roles, headers=head, json={"role": "canteen_staff", "scope": "s1", "granted": False})
    assert revoked.json()["roles"] == []
    ministry = world.client.post(roles, headers=admin(), json={"role": "ministry"})  # the admin token is the system
    assert ministry.json()["roles"] == [{"role": "ministry", "scope": None}]
    assert world.client.post(roles, headers=admin(), json={"role": "ministry", "scope": "s1"}).status_code == 422

    with world.app.state.engine.connect() as conn:
        history = [(h["role"], h["scope"], h["granted"], h["by"]) for h in role_history(conn, UUID(aunt))]
        in_force = roles_in_force(conn, UUID(aunt))
        journal = audit_entries(conn, "s1")
    by_head = f"account:{world.ids['head1']}"
    assert history == [
        ("canteen_staff", "s1", True, by_head),
        ("canteen_staff", "s1", False, by_head),
        ("ministry", None, True, SYSTEM),
    ]
    assert {(g.role, g.scope) for g in in_force} == {(Role.MINISTRY, None)}
    created = [e for e in journal if e["entity"] == "account" and e["entity_id"] == aunt]
    assert [(e["action"], e["actor"], e["before"]) for e in created] == [("create", by_head, None)]
    assert created[0]["after"]["login"] == "aunt@mail.kz"
    grants = [
        (e["actor"], e["before"], e["after"]) for e in journal if e["entity"] == "role_grant" and e["entity_id"] == aunt
    ]
    assert grants == [
        (
            by_head,
            {"role": "canteen_staff", "scope": "s1", "granted": False},
            {"role": "canteen_staff", "scope": "s1", "granted": True},
        ),
        (
            by_head,
            {"role": "canteen_staff", "scope": "s1", "granted": True},
            {"role": "canteen_staff", "scope": "s1", "granted": False},
        ),
        # journalled under the account's own school, whose administrator looks there
        (
            SYSTEM,
            {"role": "ministry", "scope": None, "granted": False},
            {"role": "ministry", "scope": None, "granted": True},
        ),
    ]
    # the journal never holds a password or its hash
    assert "argon2" not in json.dumps(journal, default=str) and PASSWORD not in json.dumps(journal, default=str)


def test_consent_change_is_audited_with_the_guardian_as_actor(world: World) -> None:
    mother = world.token("+77012345678")
    child = world.ids[CHILD]
    r = world.client.post(f"/v1/me/children/{child}/consent", headers=mother, json={"given": True})
    assert r.status_code == 200 and r.json()["consent"] is True and "iin" not in r.json()
    with world.app.state.engine.connect() as conn:
        [entry] = audit_entries(conn, "s1", "consent")
    assert entry["actor"] == f"account:{world.ids['mother']}" and entry["entity_id"] == str(child)
    assert (entry["before"], entry["after"]) == ({"given": False}, {"given": True, "by": str(world.ids[MOTHER])})


def test_a_school_events_need_staff_of_that_school(world: World) -> None:
    path, params = "/v1/schools/{}/events", {"date": "2026-11-20"}
    cook1 = world.token("cook@s1.kz")
    assert world.client.get(path.format("s1"), params=params, headers=cook1).status_code == 200
    assert world.client.get(path.format("s2"), params=params, headers=cook1).status_code == 403
    assert world.client.get(path.format("s1"), params=params, headers=world.token("father@mail.kz")).status_code == 403
    assert world.client.get(path.format("s1"), params=params, headers=world.token("head@s1.kz")).status_code == 200
    assert world.client.get(path.format("s2"), params=params, headers=admin()).status_code == 200


# -- every route that returns a person -------------------------------------------------------------

Call = Callable[[World, dict[str, str], UUID, str], Any]


def _children(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    r = w.client.get("/v1/me/children", headers=h)
    if r.status_code != 200:
        return r.status_code
    # a guardian's list is a 200 whatever the child: the other family's child is simply not in it
    return 200 if str(child) in {c["id"] for c in r.json()} else 404


def _person(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    return w.client.get(f"/v1/schools/{school}/people/{child}", headers=h).status_code


def _consent(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    return w.client.post(f"/v1/me/children/{child}/consent", headers=h, json={"given": True}).status_code


def _bans(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    return w.client.put(f"/v1/me/children/{child}/allergen-bans", headers=h, json={"allergens": ["milk"]}).status_code


def _limit(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    return w.client.put(f"/v1/me/children/{child}/daily-limit", headers=h, json={"limit_tiyn": 100000}).status_code


def _balance(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    return w.client.get(f"/v1/me/children/{child}/balance", headers=h).status_code


# How to ask each person route for one child as one caller. A marked route missing here fails
# ``test_every_person_route_is_covered``: a new endpoint cannot be forgotten.
PERSON_ROUTES: dict[tuple[str, str], Call] = {
    ("GET", "/v1/me/children"): _children,
    ("GET", "/v1/schools/{school_id}/people/{person_id}"): _person,
    ("POST", "/v1/me/children/{child_id}/consent"): _consent,
    ("PUT", "/v1/me/children/{child_id}/allergen-bans"): _bans,
    ("PUT", "/v1/me/children/{child_id}/daily-limit"): _limit,
    ("GET", "/v1/me/children/{child_id}/balance"): _balance,
}


def _people_list(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    r = w.client.get(f"/v1/schools/{school}/people", headers=h, params={"limit": 1000})
    if r.status_code != 200:
        return r.status_code
    return 200 if str(child) in {p["id"] for p in r.json()["items"]} else 404


def _audit(w: World, h: dict[str, str], child: UUID, school: str) -> Any:
    r = w.client.get(f"/v1/schools/{school}/audit", headers=h, params={"entity": "person", "limit": 1000})
    if r.status_code != 200:
        return r.status_code
    return 200 if str(child) in {e["entity_id"] for e in r.json()["items"]} else 404


# Person routes for a school's staff, never a guardian: each with the accounts of s1 that may read it.
STAFF_PERSON_ROUTES: dict[tuple[str, str], tuple[Call, frozenset[str]]] = {
    ("GET", "/v1/schools/{school_id}/people"): (_people_list, frozenset({"head1", "cook1"})),
    ("GET", "/v1/schools/{school_id}/audit"): (_audit, frozenset({"head1"})),
}


def person_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the app's routes marked ``x-returns-person``.

    Read from the OpenAPI document that FastAPI builds from ``app.routes``: recent FastAPI keeps
    included routers nested (and lazily flattened) in ``app.routes``, the document has them all.
    """
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("x-returns-person")
    }


def test_every_person_route_is_covered() -> None:
    from cloud_api.app import create_app
    from cloud_api.settings import CloudSettings

    assert person_routes(create_app(CloudSettings(migrate_on_start=False))) == set(PERSON_ROUTES) | set(
        STAFF_PERSON_ROUTES
    )


@pytest.mark.parametrize("route", sorted(PERSON_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_person_route_shows_only_ones_own(world: World, route: tuple[str, str]) -> None:
    call = PERSON_ROUTES[route]
    mother, father = world.token("+77012345678"), world.token("father@mail.kz")
    child, teen, other = world.ids[CHILD], world.ids[TEEN], world.ids[OTHER_CHILD]
    assert call(world, mother, child, "s1") == 200
    assert call(world, mother, teen, "s1") == 200
    assert call(world, father, other, "s1") == 200
    assert call(world, mother, other, "s1") in (403, 404)  # another family's child
    assert call(world, father, child, "s1") in (403, 404)
    assert call(world, mother, world.ids[S2_CHILD], "s2") in (403, 404)  # another school's child
    # canteen staff of s2 cannot read s1; a token of nobody reads nothing
    assert call(world, world.token("cook@s2.kz"), child, "s1") in (403, 404)
    assert call(world, {"Authorization": "Bearer nobody"}, child, "s1") == 401
    # nothing a guardian is shown carries an IIN, theirs or another family's
    for path in ("/v1/me/children", f"/v1/schools/s1/people/{child}"):
        text = world.client.get(path, headers=mother).text
        assert not any(i in text for i in (CHILD, TEEN, OTHER_CHILD, MOTHER, FATHER))


@pytest.mark.parametrize("route", sorted(STAFF_PERSON_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_staff_person_route_shows_its_school_to_its_staff_only(world: World, route: tuple[str, str]) -> None:
    call, readers = STAFF_PERSON_ROUTES[route]
    child = world.ids[CHILD]
    for name, login in (("head1", "head@s1.kz"), ("cook1", "cook@s1.kz")):
        assert call(world, world.token(login), child, "s1") == (200 if name in readers else 403), name
    assert call(world, admin(), child, "s1") == 200  # the admin token is the system
    # guardians, even of this very child, and staff of another school: 403
    for login in ("+77012345678", "father@mail.kz", "cook@s2.kz"):
        assert call(world, world.token(login), child, "s1") == 403, login
    assert call(world, world.token("head@s1.kz"), world.ids[S2_CHILD], "s2") == 403
    assert call(world, world.token("cook@s2.kz"), child, "s2") in (403, 404)  # s1's child is not in s2's
    assert call(world, {"Authorization": "Bearer nobody"}, child, "s1") == 401


def test_staff_read_people_of_their_school_only(world: World) -> None:
    cook1, cook2 = world.token("cook@s1.kz"), world.token("cook@s2.kz")
    child = world.ids[CHILD]
    r = world.client.get(f"/v1/schools/s1/people/{child}", headers=cook1)
    assert r.status_code == 200 and r.json()["first_name"] == "Әлия" and "iin" not in r.json()
    assert world.client.get(f"/v1/schools/s1/people/{child}", headers=cook2).status_code == 403
    assert world.client.get(f"/v1/schools/s2/people/{world.ids[S2_CHILD]}", headers=cook2).status_code == 200
    assert world.client.get(f"/v1/schools/s2/people/{child}", headers=cook2).status_code == 404  # not of s2
    assert world.client.get("/v1/me/children", headers=cook1).status_code == 403  # staff are not guardians
