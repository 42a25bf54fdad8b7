"""Accounts over their life, as a school's administrator and the deployment's manage them: listed, edited,
disabled and enabled again, deleted with their personal data while the journal keeps the trail."""

from __future__ import annotations

from sqlalchemy import select

from cloud_api.db.schema import account_logins, accounts
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.audit import audit_entries
from tests.cloud_api.helpers import admin
from tests.cloud_api.school import PASSWORD, World


def test_a_school_admin_lists_their_schools_accounts_only(world: World) -> None:
    head = world.token("head@s1.kz")
    listed = world.client.get("/v1/schools/s1/accounts", headers=head).json()
    assert [a["login"] for a in listed] == ["+77012345678", "cook@s1.kz", "father@mail.kz", "head@s1.kz"]
    cook = next(a for a in listed if a["login"] == "cook@s1.kz")
    assert cook["roles"] == [{"role": "canteen_staff", "scope": "s1"}] and cook["active"] is True
    assert "password_hash" not in cook
    me = next(a for a in listed if a["login"] == "head@s1.kz")
    assert me["second_factor"] is True  # the head teacher's first sign-in set up the app
    guardians = world.client.get("/v1/schools/s1/accounts", params={"role": "guardian"}, headers=head).json()
    assert {a["login"] for a in guardians} == {"+77012345678", "father@mail.kz"}
    found = world.client.get("/v1/schools/s1/accounts", params={"q": "FATHER"}, headers=head).json()
    assert [a["login"] for a in found] == ["father@mail.kz"]
    assert world.client.get("/v1/schools/s2/accounts", headers=head).status_code == 403
    assert world.client.get("/v1/accounts", headers=head).status_code == 403
    everyone = world.client.get("/v1/accounts", params={"limit": 500}, headers=admin()).json()
    assert {a["login"] for a in everyone} >= {"cook@s2.kz", "head@s1.kz"}


def test_an_account_is_edited_disabled_and_enabled_again_with_a_journal(world: World) -> None:
    head = world.token("head@s1.kz")
    father = world.token("father@mail.kz")
    target = f"/v1/accounts/{world.ids['father']}"
    edit = world.client.patch(target, json={"display_name": "Марат Сейітов", "email": "Father@Mail.kz"}, headers=head)
    assert edit.status_code == 204
    assert world.client.patch(target, json={"email": "not an e-mail"}, headers=head).json()["detail"]["code"] == (
        "bad_email"
    )
    assert world.client.post(f"{target}/disable", headers=head).status_code == 204
    assert world.client.get("/v1/me", headers=father).status_code == 401  # the session ended
    refused = world.client.post("/v1/auth/sign-in", json={"login": "father@mail.kz", "password": PASSWORD})
    assert refused.status_code == 401
    disabled = world.client.get("/v1/schools/s1/accounts", params={"state": "disabled"}, headers=head).json()
    assert [(a["login"], a["display_name"], a["email"]) for a in disabled] == [
        ("father@mail.kz", "Марат Сейітов", "father@mail.kz")
    ]
    assert world.client.post(f"{target}/enable", headers=head).status_code == 204
    assert world.client.get("/v1/me", headers=world.token("father@mail.kz")).status_code == 200
    # Nobody disables themselves, and nobody another school's accounts.
    own = world.client.post(f"/v1/accounts/{world.ids['head1']}/disable", headers=head)
    assert (own.status_code, own.json()["detail"]["code"]) == (403, "not_your_own_account")
    other = world.client.post(f"/v1/accounts/{world.ids['cook2']}/disable", headers=head)
    assert other.status_code == 403
    with world.app.state.engine.connect() as conn:
        trail = [
            (e["action"], e["before"], e["after"])
            for e in audit_entries(conn, "s1", "account")
            if e["entity_id"] == str(world.ids["father"]) and e["action"] == "update"
        ]
    assert trail == [
        ("update", {"display_name": None, "email": None}, {"display_name": "Марат Сейітов", "email": "father@mail.kz"}),
        ("update", {"active": True}, {"active": False}),
        ("update", {"active": False}, {"active": True}),
    ]


def test_a_deleted_account_keeps_no_personal_data_but_the_journal_keeps_the_trail(world: World) -> None:
    head = world.token("head@s1.kz")
    cook = world.ids["cook1"]
    history_before = world.client.get(f"/v1/accounts/{cook}/role-history", headers=head).json()
    assert [(h["role"], h["granted"]) for h in history_before] == [("canteen_staff", True)]
    assert world.client.delete(f"/v1/accounts/{cook}", headers=head).status_code == 204
    with world.app.state.engine.connect() as conn:
        row = conn.execute(select(accounts).where(accounts.c.id == cook)).one()
        assert row.login == f"deleted:{cook}" and row.password_hash is None and row.person_id is None
        assert row.deleted_at is not None and not row.active
        assert conn.execute(select(account_logins).where(account_logins.c.login == "cook@s1.kz")).first() is None
        deleted = [e for e in audit_entries(conn, "s1", "account") if e["action"] == "delete"]
    assert [(e["entity_id"], e["before"], e["actor"]) for e in deleted] == [
        (str(cook), {"login": "cook@s1.kz"}, f"account:{world.ids['head1']}")
    ]
    listed = world.client.get("/v1/schools/s1/accounts", params={"state": "all"}, headers=head).json()
    assert "cook@s1.kz" not in {a["login"] for a in listed} and len(listed) == 3
    history = world.client.get(f"/v1/accounts/{cook}/role-history", headers=head).json()
    assert [(h["role"], h["granted"]) for h in history] == [("canteen_staff", True), ("canteen_staff", False)]
    assert world.client.delete(f"/v1/accounts/{cook}", headers=head).status_code == 404
    # The login is free again: the school can give it to the next cook.
    with world.app.state.engine.begin() as conn:
        again = create_account(conn, "cook@s1.kz", actor=SYSTEM, password=PASSWORD, school_id="s1")
        grant_role(conn, again.id, Role.CANTEEN_STAFF, "s1", actor=SYSTEM)


def test_a_school_admin_cannot_manage_an_account_that_holds_a_role_beyond_the_school(world: World) -> None:
    head = world.token("head@s1.kz")
    cook = world.ids["cook1"]
    # The cook of s1 becomes also the region's official: beyond what the school's administrator may touch.
    granted = world.client.post(
        f"/v1/accounts/{cook}/roles", headers=admin(), json={"role": "region", "scope": "almaty"}
    )
    assert granted.status_code == 200
    for refused in (
        world.client.post(f"/v1/accounts/{cook}/reset-code", headers=head),
        world.client.post(f"/v1/accounts/{cook}/second-factor/reset", headers=head),
        world.client.post(f"/v1/accounts/{cook}/disable", headers=head),
        world.client.delete(f"/v1/accounts/{cook}", headers=head),
    ):
        assert refused.status_code == 403
    assert world.client.post(f"/v1/accounts/{cook}/reset-code", headers=admin()).status_code == 200
