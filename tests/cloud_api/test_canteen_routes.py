"""The canteen over HTTP as its users meet it: the admin's menu with photos, a parent's bans, limit and balance."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from cloud_api.services.audit import audit_entries
from cloud_api.services.roster_sync import build_delta
from gateway.roster.photos import PhotoFetcher, missing, photo
from gateway.roster.photos import migrate as migrate_photos
from gateway.roster.store import apply
from gateway.roster.store import migrate as migrate_roster
from gateway.storage import Storage
from gateway.taps.outbox import open_database
from shared.contract import INGEST_PATH
from shared.pins import verify_pin
from tests.cloud_api.helpers import KEY, KEY2, batch_body, event, signed
from tests.cloud_api.school import CHILD, TEACHER, TEEN, World

# The smallest valid PNG: one transparent pixel.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
RULES = {
    "periods": [
        {"name": "breakfast", "starts": "08:00", "ends": "09:00"},
        {"name": "lunch", "starts": "12:00", "ends": "14:00"},
    ],
    "free_periods": ["lunch"],
    "prepaid": True,
}
DAY = "2026-11-24"


def setup_menu(w: World) -> dict[str, Any]:
    """The head teacher's morning: rules, two dishes (one with a photo), Tuesday's lunch."""
    head = w.token("head@s1.kz")
    assert w.client.put("/v1/schools/s1/meal-rules", json=RULES, headers=head).status_code == 200
    soup = w.client.post(
        "/v1/schools/s1/dishes",
        json={"names": {"kk": "Көже", "ru": "Суп"}, "price_tiyn": 30000, "allergens": ["celery"]},
        headers=head,
    ).json()
    plov = w.client.post(
        "/v1/schools/s1/dishes", json={"names": {"kk": "Палау", "ru": "Плов"}, "price_tiyn": 65000}, headers=head
    ).json()
    photo = w.client.put(
        f"/v1/schools/s1/dishes/{plov['id']}/photo", content=PNG, headers={**head, "Content-Type": "image/png"}
    )
    assert photo.status_code == 200, photo.text
    lunch = w.client.put(f"/v1/schools/s1/menu/{DAY}/lunch", json={"dish_ids": [soup["id"], plov["id"]]}, headers=head)
    assert lunch.status_code == 200, lunch.text
    return {"head": head, "soup": soup, "plov": photo.json()}


def test_a_parent_sees_the_days_menu_with_prices_and_photos(world: World) -> None:
    made = setup_menu(world)
    mother = world.token("+77012345678")
    menu = world.client.get(f"/v1/schools/s1/menu?from={DAY}&days=1", headers=mother)
    assert menu.status_code == 200
    [lunch] = menu.json()
    assert (lunch["period"], lunch["price_tiyn"]) == ("lunch", 95000)  # the dishes' sum
    names = [d["names"]["ru"] for d in lunch["dishes"]]
    assert names == ["Суп", "Плов"] and lunch["dishes"][0]["allergens"] == ["celery"]
    photo_url = lunch["dishes"][1]["photo_url"]
    got = world.client.get(photo_url)  # public: an <img> in the parent app carries no token
    # the photo as the cloud re-encoded it (a JPEG), named by the hash of those bytes
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert photo_url.endswith(hashlib.sha256(got.content).hexdigest()) and got.content.startswith(b"\xff\xd8\xff")
    assert "immutable" in got.headers["cache-control"]
    # the next day has no menu yet; another school's parent-less reader gets nothing
    assert world.client.get("/v1/schools/s1/menu?from=2026-11-25&days=1", headers=mother).json() == []
    assert world.client.get(f"/v1/schools/s1/menu?from={DAY}", headers=world.token("cook@s2.kz")).status_code == 403
    assert made["plov"]["photo_url"] == photo_url


def test_a_price_change_keeps_its_history_and_reaches_the_gateway(world: World) -> None:
    made = setup_menu(world)
    head, plov = made["head"], made["plov"]
    with world.app.state.engine.connect() as conn:
        before = build_delta(conn, "s1", 0).version
    changed = world.client.put(
        f"/v1/schools/s1/dishes/{plov['id']}", json={"names": plov["names"], "price_tiyn": 70000}, headers=head
    )
    assert changed.status_code == 200 and changed.json()["photo_url"] == plov["photo_url"]  # the photo stays
    history = world.client.get(f"/v1/schools/s1/dishes/{plov['id']}/history", headers=head).json()
    assert [v["price_tiyn"] for v in history] == [65000, 65000, 70000]  # added, photo, new price
    with world.app.state.engine.connect() as conn:
        delta = build_delta(conn, "s1", before)
    assert [(d.id.hex, d.price_tiyn) for d in delta.dishes] == [(plov["id"].replace("-", ""), 70000)]


def test_only_the_school_admin_changes_the_menu(world: World) -> None:
    made = setup_menu(world)
    for who in ("cook@s1.kz", "+77012345678", "cook@s2.kz"):
        r = world.client.put(
            f"/v1/schools/s1/dishes/{made['soup']['id']}",
            json={"names": {"ru": "Суп"}, "price_tiyn": 1},
            headers=world.token(who),
        )
        assert r.status_code == 403, who


def test_bad_photos_and_menus_are_refused_with_a_reason_in_the_callers_language(world: World) -> None:
    made = setup_menu(world)
    head = {**made["head"], "Accept-Language": "ru"}
    url = f"/v1/schools/s1/dishes/{made['soup']['id']}/photo"
    text = world.client.put(url, content=b"<svg onload=alert(1)>", headers={**head, "Content-Type": "image/png"})
    assert text.status_code == 415 and text.json()["detail"]["code"] == "photo_type"
    assert "JPEG" in text.json()["detail"]["message"] and "изображение" in text.json()["detail"]["message"]
    huge = world.client.put(url, content=PNG + b"\0" * (2 * 1024 * 1024), headers=head)
    assert huge.status_code == 413 and huge.json()["detail"]["code"] == "photo_too_large"
    soup_only = {"dish_ids": [made["soup"]["id"]]}
    dinner = world.client.put(f"/v1/schools/s1/menu/{DAY}/dinner", json=soup_only, headers=head)
    assert dinner.status_code == 422 and dinner.json()["detail"]["code"] == "unknown_period"
    ghost = world.client.put(
        f"/v1/schools/s1/menu/{DAY}/lunch", json={"dish_ids": ["0190a000-0000-7000-8000-000000000000"]}, headers=head
    )
    assert ghost.status_code == 404 and ghost.json()["detail"]["code"] == "unknown_dish"
    trap = {"names": {"ru": '=HYPERLINK("http://evil.example","Суп")'}, "price_tiyn": 1}
    soup = f"/v1/schools/s1/dishes/{made['soup']['id']}"
    for refused in (
        world.client.post("/v1/schools/s1/dishes", json=trap, headers=head),
        world.client.put(soup, json=trap, headers=head),
    ):
        assert refused.status_code == 422 and refused.json()["detail"]["code"] == "starts_like_a_formula"
        assert "формулу" in refused.json()["detail"]["message"]  # it would run in the ministry's spreadsheet
    assert all(
        not d["names"]["ru"].startswith("=") for d in world.client.get("/v1/schools/s1/dishes", headers=head).json()
    )
    # nothing of the refused changes was kept: the soup has no photo, lunch is as it was
    lunch = world.client.get(f"/v1/schools/s1/menu?from={DAY}&days=1", headers=head).json()
    assert [d["photo_url"] is None for d in lunch[0]["dishes"]] == [True, False]


def test_a_parents_ban_and_limit_reach_the_gateway_and_are_audited(world: World) -> None:
    mother = world.token("+77012345678")
    child = world.ids[CHILD]
    milk_eggs = {"allergens": ["milk", "eggs"]}
    bans = world.client.put(f"/v1/me/children/{child}/allergen-bans", json=milk_eggs, headers=mother)
    assert bans.status_code == 200 and bans.json()["allergens"] == ["eggs", "milk"]
    limit = world.client.put(f"/v1/me/children/{child}/daily-limit", json={"limit_tiyn": 150000}, headers=mother)
    assert limit.status_code == 200 and limit.json()["daily_limit_tiyn"] == 150000
    bad = world.client.put(f"/v1/me/children/{child}/allergen-bans", json={"allergens": ["chocolate"]}, headers=mother)
    assert bad.status_code == 422  # not one of the 14 allergen groups
    with world.app.state.engine.connect() as conn:
        [person] = [p for p in build_delta(conn, "s1", 0).people if p.id == child]
    assert [a.value for a in person.allergen_bans] == ["eggs", "milk"] and person.daily_limit_tiyn == 150000
    journal = world.client.get("/v1/schools/s1/audit", headers=world.token("head@s1.kz"))
    assert journal.status_code == 200
    assert {e["entity"] for e in journal.json()["items"]} >= {"allergen_bans", "daily_limit"}


def test_top_ups_and_paid_meals_make_the_balance_once_each(world: World) -> None:
    head, mother = world.token("head@s1.kz"), world.token("+77012345678")
    teen = world.ids[TEEN]
    credit = world.client.post(f"/v1/schools/s1/people/{teen}/credits", json={"amount_tiyn": 500000}, headers=head)
    assert credit.status_code == 201 and credit.json()["balance_tiyn"] == 500000
    assert (
        world.client.post(f"/v1/schools/s1/people/{teen}/credits", json={"amount_tiyn": -5}, headers=head).status_code
        == 422
    )  # a negative top-up is a typing slip; a correction says so
    fix = {"amount_tiyn": -20000, "kind": "correction", "note": "counted twice"}
    assert world.client.post(f"/v1/schools/s1/people/{teen}/credits", json=fix, headers=head).status_code == 201
    assert world.client.post(f"/v1/schools/s1/people/{teen}/credits", json=fix, headers=mother).status_code == 403
    # the gateway sends the teen's discounted lunch (their family's share) and a free breakfast of nobody
    meal = {"period": "lunch", "category": "discounted", "dishes": ["Плов"], "price_tiyn": 32500}
    events = [
        event(1, kind="meal", person_id=str(teen), reason="on_roster", meal=meal, at="2026-11-24T12:30:00+05:00"),
        event(2, kind="meal", reason="no_consent", meal={**meal, "category": "free", "price_tiyn": 0}),
    ]
    for _ in range(2):  # a retried batch charges nothing twice
        body = batch_body(events)
        assert world.client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    balance = world.client.get(f"/v1/me/children/{teen}/balance", headers=mother).json()
    assert (balance["credited_tiyn"], balance["charged_tiyn"]) == (480000, 32500)
    assert balance["balance_tiyn"] == 447500
    assert [(e["kind"], e["amount_tiyn"]) for e in balance["entries"]] == [
        ("meal", -32500),
        ("correction", -20000),
        ("top_up", 500000),
    ]
    with world.app.state.engine.connect() as conn:
        [person] = [p for p in build_delta(conn, "s1", 0).people if p.id == teen]
    assert (person.credited_tiyn, person.charged_tiyn) == (480000, 32500)


async def fetch_to_gateway(w: World, tmp_path: Path, gateway: str = "gw1", key: str = KEY) -> sqlite_utils.Database:
    """What a gateway of s1 does after a pull: apply the roster, then fetch the photos it names."""
    db = open_database(tmp_path / f"{gateway}.db")
    migrate_roster(db)
    migrate_photos(db)
    with w.app.state.engine.connect() as conn:
        apply(db, build_delta(conn, "s1", 0), "s1")
    storage = Storage(tmp_path / f"{gateway}.db")
    await storage.open()
    try:
        fetcher = PhotoFetcher(storage=storage, gateway_id=gateway, key=key.encode())
        transport = httpx.ASGITransport(app=w.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cloud") as client:
            await fetcher.fetch(client)
    finally:
        await storage.close()
    return db


async def test_a_childs_photo_reaches_their_schools_gateway_and_nobody_else(
    world: World,
    tmp_path: Path,
) -> None:
    head, child = world.token("head@s1.kz"), world.ids[CHILD]
    put = world.client.put(f"/v1/schools/s1/people/{child}/photo", content=PNG, headers=head)
    assert put.status_code == 204
    with world.app.state.engine.connect() as conn:
        [person] = [p for p in build_delta(conn, "s1", 0).people if p.id == child]
    digest = person.photo_sha256
    assert digest is not None and digest != hashlib.sha256(PNG).hexdigest()  # kept re-encoded, not as sent
    assert world.client.get(f"/v1/photos/{digest}").status_code == 404  # the public URL: dishes only
    cook1, cook2 = world.token("cook@s1.kz"), world.token("cook@s2.kz")
    face = world.client.get(f"/v1/schools/s1/photos/{digest}", headers=cook1).content
    assert hashlib.sha256(face).hexdigest() == digest
    assert world.client.get(f"/v1/schools/s1/photos/{digest}", headers=cook2).status_code == 403
    assert world.client.get(f"/v1/schools/s2/photos/{digest}", headers=cook2).status_code == 404
    db = await fetch_to_gateway(world, tmp_path)
    assert photo(db, digest) == ("image/jpeg", face) and missing(db) == []
    # the gateway of another school is refused the same photo: signed, but not its school
    other = await fetch_to_gateway(world, tmp_path, gateway="gw2", key=KEY2)
    assert photo(other, digest) is None and missing(other) == [digest]
    removed = world.client.delete(f"/v1/schools/s1/people/{child}/photo", headers=head)
    assert removed.status_code == 204
    with world.app.state.engine.connect() as conn:
        journal = audit_entries(conn, "s1", "person_photo")
    assert [(e["before"], e["after"]) for e in journal] == [
        ({"sha256": None}, {"sha256": digest}),
        ({"sha256": digest}, {"sha256": None}),
    ]


def test_a_cooks_pin_reaches_the_gateway_as_a_hash_only(world: World) -> None:
    cook, head, mother = world.token("cook@s1.kz"), world.token("head@s1.kz"), world.token("+77012345678")
    assert world.client.put("/v1/me/canteen-pin", json={"pin": "4821"}, headers=cook).status_code == 204
    assert world.client.put("/v1/me/canteen-pin", json={"pin": "12ab"}, headers=cook).status_code == 422
    assert world.client.put("/v1/me/canteen-pin", json={"pin": "4821"}, headers=mother).status_code == 403
    teacher = world.ids[TEACHER]
    with world.app.state.engine.connect() as conn:
        [person] = [p for p in build_delta(conn, "s1", 0).people if p.id == teacher]
    assert verify_pin("4821", person.canteen_pin_hash) and not verify_pin("4822", person.canteen_pin_hash)
    # the head withdraws it (the cook left); a student has no canteen PIN to set
    withdraw = world.client.put(f"/v1/schools/s1/people/{teacher}/canteen-pin", json={"pin": None}, headers=head)
    assert withdraw.status_code == 204
    student = f"/v1/schools/s1/people/{world.ids[CHILD]}/canteen-pin"
    child = world.client.put(student, json={"pin": "1234"}, headers=head)
    assert child.status_code == 404
    with world.app.state.engine.connect() as conn:
        [person] = [p for p in build_delta(conn, "s1", 0).people if p.id == teacher]
        journal = audit_entries(conn, "s1", "canteen_pin")
    assert person.canteen_pin_hash is None
    assert [(e["before"], e["after"]) for e in journal] == [
        ({"set": False}, {"set": True}),
        ({"set": True}, {"set": False}),
    ]
    assert "pbkdf2" not in str(journal)  # the journal says a PIN changed, never what it is
