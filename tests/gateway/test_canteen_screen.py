"""The canteen staff's screen: today's meal and counts, the last taps, and a PIN-signed manual entry."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from prometheus_client import CollectorRegistry

from device_drivers.base import CardRead
from gateway.pages.canteen import CanteenDesk, PinGuard
from gateway.pages.web import create_ui_app
from gateway.roster.photos import migrate as migrate_photos
from gateway.roster.photos import store
from gateway.roster.store import apply, migrate
from gateway.storage import Storage
from gateway.taps.outbox import Outbox, open_database
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place, Reason
from gateway.taps.rules import RosterPolicy
from shared.contract import Category, CredentialKind, Event
from shared.pins import hash_pin, verify_pin
from tests.gateway.roster_factories import CARD_KEY, SCHOOL, School, at_local

CANTEEN = AccessPoint("canteen-1", Place.CANTEEN)
PIN = "4821"
FACE = b"\x89PNG\r\n\x1a\n Aliya's face"


@dataclass
class Screen:
    client: TestClient
    school: School
    pipeline: Pipeline
    storage: Storage
    now: list[datetime]  # one item: the desk's clock, moved by a test

    def tap(self, card: str, minute: int = 10) -> None:
        read = CardRead(CANTEEN.device_id, card, CredentialKind.EM4100, at_local(12, minute))
        asyncio.run(self.pipeline.process([read]))

    def manual(
        self,
        person: str,
        reason: str = "forgot the card",
        pin: str = PIN,
        staff: str = "COOK",
        dishes: list[str] | None = None,
    ) -> Response:
        body: dict[str, object] = {
            "pin": pin,
            "staff_id": str(self.school.people[staff].id),
            "reason": reason,
            "person_id": str(self.school.people[person].id),
        }
        if dishes is not None:
            body["dish_ids"] = dishes
        return self.client.post("/api/canteen/manual?lang=ru", json=body)

    def bodies(self) -> list[dict[str, object]]:
        rows = asyncio.run(self.storage.call(lambda o: o.db.execute("SELECT body FROM events ORDER BY seq").fetchall()))
        return [json.loads(body) for (body,) in rows]


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    school = School()
    school.add("ALIYA", display_name="Әлия Сейіт", class_name="3Б", photo_sha256=hashlib.sha256(FACE).hexdigest())
    school.add("BEREKE", display_name="Береке Нұр", class_name="4А")
    school.add("PAYS", meal_category=Category.PAID)
    school.add("NOMILK", meal_category=Category.PAID, allergen_bans=["milk"], display_name="Дана С.")
    school.add("TEACHER", role="staff", meal_category=None, class_name=None)
    # Few rounds: the format is the production one, the test stays fast.
    school.add(
        "COOK",
        role="staff",
        meal_category=None,
        class_name=None,
        display_name="Гүлнар апай",
        canteen_pin_hash=hash_pin(PIN, iterations=1_000),
    )
    db = open_database(tmp_path / "roster.db")
    migrate(db)
    policy = RosterPolicy(apply(db, school.delta(), SCHOOL))
    storage = Storage(tmp_path / "gateway.db")
    asyncio.run(storage.open())

    def hold_face(outbox: Outbox) -> None:  # as the photo fetcher leaves it after a sync
        migrate_photos(outbox.db)
        store(outbox.db, hashlib.sha256(FACE).hexdigest(), "image/png", FACE)

    asyncio.run(storage.call(hold_face))
    pipeline = Pipeline(
        school_id=SCHOOL,
        gateway_id="gw1",
        credential_key=CARD_KEY,
        storage=storage,
        policy=policy,
        points={CANTEEN.device_id: CANTEEN},
        feedback=lambda reader, fb: None,
    )
    now = [at_local(12, 30)]
    desk = CanteenDesk(policy=policy, pipeline=pipeline, storage=storage, points=[CANTEEN], clock=lambda: now[0])
    app = create_ui_app(school_name="№1", latest=lambda n: [], status=dict, registry=CollectorRegistry(), canteen=desk)
    yield Screen(TestClient(app), school, pipeline, storage, now)
    asyncio.run(storage.close())


def test_pins_hash_and_verify_in_the_shared_format() -> None:
    encoded = hash_pin("1234", iterations=1_000)
    scheme, rounds, salt, digest = encoded.split("$")
    assert (scheme, rounds, len(salt), len(digest)) == ("pbkdf2_sha256", "1000", 32, 64)
    assert verify_pin("1234", encoded) and not verify_pin("1235", encoded)
    assert hash_pin("1234", iterations=1_000) != encoded  # a fresh salt each time
    for bad in (None, "", "md5$1$00$00", "pbkdf2_sha256$x$00$00", "pbkdf2_sha256$1000$zz$00", encoded[:-64]):
        assert not verify_pin("1234", bad)


@pytest.mark.parametrize(("lang", "dish", "period"), [("kk", "Палау", "түскі ас"), ("ru", "Плов", "обед")])
def test_the_page_shows_the_period_set_meal_and_counts(screen: Screen, lang: str, dish: str, period: str) -> None:
    screen.tap("ALIYA")
    page = screen.client.get(f"/canteen?lang={lang}")
    assert page.status_code == 200
    html = page.text
    assert dish in html and period in html
    assert ">1</b>" in html and ">4</b>" in html  # served 1 of 4 students with school meals
    assert "Гүлнар апай" in html and "Береке Нұр" in html  # who signs, and whom they may serve
    assert ("Последние отметки" if lang == "ru" else "Соңғы тіркелулер") in html
    assert "http" not in html.replace('"api/canteen', "")  # nothing fetched from elsewhere: works offline


def test_the_api_shows_the_last_taps_with_name_and_class(screen: Screen) -> None:
    screen.tap("ALIYA", 10)
    screen.tap("ALIYA", 11)  # a second free lunch: refused
    screen.tap("PAYS", 12)  # paid meals count as served too
    state = screen.client.get("/api/canteen?lang=ru").json()
    assert state["period"] == "lunch" and state["period_label"] == "обед"
    assert state["dishes"] == [{"name": "Плов", "photo_url": None}]
    assert (state["served"], state["eligible"]) == (2, 4)
    latest, refused, first = state["taps"][:3]
    assert (first["name"], first["class_name"], first["decision"]) == ("Әлия Сейіт", "3Б", "granted")
    assert (refused["reason"], refused["reason_label"]) == ("already_served", "это питание уже выдано")
    assert latest["name"] == "PAYS N." and not latest["manual"]
    # the child's face beside the name, served by the gateway itself (no Internet at the till)
    assert latest["photo_url"] is None and first["photo_url"] == f"photos/{hashlib.sha256(FACE).hexdigest()}"
    face = screen.client.get("/" + first["photo_url"])
    assert face.status_code == 200 and face.content == FACE and face.headers["content-type"] == "image/png"
    assert screen.client.get("/photos/" + "0" * 64).status_code == 404


def test_outside_a_meal_period_there_is_no_period_and_no_dishes(screen: Screen) -> None:
    screen.now[0] = at_local(10, 0)
    state = screen.client.get("/api/canteen").json()
    assert (state["period"], state["dishes"], state["served"]) == (None, [], 0)


def test_a_manual_entry_needs_a_reason_and_the_right_pin(screen: Screen) -> None:
    assert screen.manual("BEREKE", reason="").status_code == 422
    assert screen.manual("BEREKE", reason="   ").status_code == 422
    assert screen.manual("BEREKE", reason="x" * 201).status_code == 422
    wrong = screen.manual("BEREKE", pin="0000")
    assert wrong.status_code == 403 and wrong.json()["detail"]["code"] == "wrong_pin"
    assert screen.manual("BEREKE", staff="TEACHER").status_code == 403  # no PIN on the roster: cannot sign
    assert screen.bodies() == []  # nothing recorded for a refused request


def test_a_manual_entry_serves_once_through_the_rules_and_is_audited(screen: Screen) -> None:
    first = screen.manual("BEREKE")
    assert first.status_code == 200
    answer = first.json()
    assert answer["granted"] and answer["reason"] == Reason.ON_ROSTER and answer["name"] == "Береке Нұр"
    again = screen.manual("BEREKE", reason="asked again")
    assert again.status_code == 200 and not again.json()["granted"]
    assert again.json()["reason"] == Reason.ALREADY_SERVED
    assert screen.client.get("/api/canteen").json()["served"] == 1

    bodies = screen.bodies()
    assert len(bodies) == 2
    cook = str(screen.school.people["COOK"].id)
    assert bodies[0]["manual"] == {"staff_id": cook, "reason": "forgot the card"}
    assert bodies[1]["manual"] == {"staff_id": cook, "reason": "asked again"}
    event = Event.model_validate(bodies[0])  # what the cloud will accept
    assert event.credential_kind is CredentialKind.MANUAL and event.credential_hash is None
    assert event.person_id == str(screen.school.people["BEREKE"].id) and event.meal is not None
    tap = screen.client.get("/api/canteen?lang=ru").json()["taps"][1]
    assert tap["manual"] and tap["staff_name"] == "Гүлнар апай" and tap["manual_reason"] == "forgot the card"
    # A card after a manual entry is refused the same way: one path, one memory of who ate.
    screen.tap("BEREKE", 40)
    assert screen.bodies()[-1]["reason"] == Reason.ALREADY_SERVED


def test_five_wrong_pins_lock_the_staff_member_out_for_five_minutes(screen: Screen) -> None:
    for _ in range(5):
        assert screen.manual("BEREKE", pin="0000").status_code == 403
    locked = screen.manual("BEREKE")  # even the right PIN, while locked
    assert locked.status_code == 429 and locked.json()["detail"]["code"] == "staff_locked"
    screen.now[0] += timedelta(minutes=5)
    assert screen.manual("BEREKE").json()["granted"]


def test_the_guard_forgets_failures_after_a_right_pin() -> None:
    guard, now = PinGuard(max_failures=2, lock_for=timedelta(minutes=1)), at_local(12)
    guard.failed("a", now)
    guard.succeeded("a")
    guard.failed("a", now)
    assert not guard.locked("a", now)
    guard.failed("a", now)
    assert guard.locked("a", now) and not guard.locked("b", now)
    assert not guard.locked("a", now + timedelta(minutes=1))


def test_staff_serve_an_allowed_alternative_after_an_allergen_denial(screen: Screen) -> None:
    screen.now[0] = at_local(8, 30)  # breakfast: pancakes, with milk
    read = CardRead(CANTEEN.device_id, "NOMILK", CredentialKind.EM4100, at_local(8, 20))
    asyncio.run(screen.pipeline.process([read]))
    assert screen.bodies()[-1]["reason"] == Reason.ALLERGEN_CONFLICT
    page = screen.client.get("/canteen?lang=ru").text
    assert "Serve instead" not in page and "Блины (глютен, молоко, яйца)" in page  # the picker names allergens
    pancakes, plov = str(screen.school.pancakes.id), str(screen.school.plov.id)
    unsafe = screen.manual("NOMILK", reason="просит блины", dishes=[pancakes]).json()
    assert not unsafe["granted"] and unsafe["reason"] == Reason.ALLERGEN_CONFLICT  # the ban holds by hand too
    nothing = screen.manual("NOMILK", reason="?", dishes=["0190a000-0000-7000-8000-000000000000"]).json()
    assert nothing["reason"] == Reason.UNKNOWN_DISH
    served = screen.manual("NOMILK", reason="без молока: плов", dishes=[plov])
    assert served.status_code == 200 and served.json()["granted"]
    event = Event.model_validate(screen.bodies()[-1])
    assert event.meal is not None and (event.meal.dishes, event.meal.price_tiyn) == (["Плов"], 70000)
    assert event.manual is not None and event.manual.reason == "без молока: плов"
