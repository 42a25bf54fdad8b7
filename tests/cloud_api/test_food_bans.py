"""A family's food: kinds of dish forbidden beside allergens, refusals that say what for, dishes named
in the reader's language, and a rating that can be changed.

Service-level: what the gateway is sent (by the contract it asks for), what the parent's pages and
notices are made of. The browser walk is tests/test_parent_food_browser.py; the terminal's refusal
offline is tests/gateway/test_category_ban_terminal.py.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ConfigDict
from sqlalchemy import select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import allergen_bans, audit_log
from cloud_api.push.messages import compose
from cloud_api.services.dish_names import dish_names, name_in
from cloud_api.services.events import person_events
from cloud_api.services.family import child_day, child_month, rate_meal, ratings_given
from cloud_api.services.menus import (
    bans_of,
    category_bans_of,
    change_dish,
    refused_dishes,
    set_allergen_bans,
    set_food_bans,
    upsert_dish,
)
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign
from shared.localtime import LOCAL_TZ
from shared.roster_contract import ROSTER_PATH, Allergen, Dish, DishCategory, RosterDelta, RosterPerson
from tests.cloud_api.helpers import KEY
from tests.cloud_api.school import CHILD, FATHER, MOTHER, World, serve_lunch_today
from tests.cloud_api.test_push import earlier_today, event, ingest

ON_CITUS: tuple[str, ...] = ()  # the same SQL as PostgreSQL's; the migration's columns are checked there

BAURSAK = Dish(
    id=uuid.uuid4(),
    names={"kk": "Бауырсақ", "ru": "Баурсак", "en": "Baursak"},
    price_tiyn=10000,
    category=DishCategory.PASTRY,
    allergens=[Allergen.GLUTEN],
)


def _pull(world: World, contract: int | None) -> dict[str, Any]:
    """A full snapshot as gateway gw1 gets it, asking for roster contract ``contract`` (None: not asking)."""
    path = f"{ROSTER_PATH}?since=0" + ("" if contract is None else f"&contract={contract}")
    ts = str(int(time.time()) + (contract or 0))  # two pulls, never the same signature (a replay)
    headers = {HEADER_GATEWAY: "gw1", HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign(KEY.encode(), "GET", path, ts, b"")}
    response = world.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_kinds_of_dish_are_forbidden_with_history_and_audit_and_allergens_stay(world: World) -> None:
    child, mother = world.ids[CHILD], world.ids[MOTHER]
    with world.app.state.engine.begin() as conn:
        set_allergen_bans(conn, "s1", child, mother, [Allergen.MILK], actor="mother")
        assert set_food_bans(conn, "s1", child, mother, [Allergen.MILK], [DishCategory.PASTRY], actor="mother")
        assert not set_food_bans(conn, "s1", child, mother, [Allergen.MILK], [DishCategory.PASTRY], actor="mother")
        set_allergen_bans(conn, "s1", child, mother, [Allergen.MILK, Allergen.EGGS], actor="mother")
        assert bans_of(conn, "s1", [child]) == {child: ["eggs", "milk"]}
        assert category_bans_of(conn, "s1", [child]) == {child: ["pastry"]}  # an allergen change keeps the kinds
        history = conn.execute(
            select(allergen_bans.c.allergens, allergen_bans.c.categories)
            .where(allergen_bans.c.child_id == child)
            .order_by(allergen_bans.c.id)
        ).all()
        assert [tuple(row) for row in history] == [
            (["milk"], []),
            (["milk"], ["pastry"]),
            (["eggs", "milk"], ["pastry"]),
        ]
        journal = conn.execute(
            select(audit_log.c.after).where(audit_log.c.entity == "allergen_bans").order_by(audit_log.c.id)
        ).scalars()
        assert [entry["categories"] for entry in journal] == [[], ["pastry"], ["pastry"]]
        with pytest.raises(DomainError):  # not his child to restrict
            set_food_bans(conn, "s1", child, world.ids[FATHER], [], [DishCategory.SWEETS], actor="father")


def test_the_gateway_gets_the_kinds_only_when_it_asks_for_contract_2(world: World) -> None:
    child, mother = world.ids[CHILD], world.ids[MOTHER]
    with world.app.state.engine.begin() as conn:
        upsert_dish(conn, "s1", BAURSAK, actor="cook")
        set_food_bans(conn, "s1", child, mother, [], [DishCategory.PASTRY, DishCategory.SWEETS], actor="mother")
    new = RosterDelta.model_validate(_pull(world, 2))
    assert new.contract == 2
    assert {p.id: p.category_bans for p in new.people}[child] == [DishCategory.PASTRY, DishCategory.SWEETS]
    assert {d.id: d.category for d in new.dishes}[BAURSAK.id] is DishCategory.PASTRY
    old = _pull(world, None)  # a gateway of the release before asks for no contract
    assert "contract" not in old
    assert all("category_bans" not in p for p in old["people"]) and all("category" not in d for d in old["dishes"])

    class OldPerson(RosterPerson):  # a gateway of the release before: every field it does not know is refused
        model_config = ConfigDict(extra="forbid", frozen=True)

    for person in old["people"]:
        OldPerson.model_validate(person)


def test_refused_dishes_name_the_allergen_and_the_kind() -> None:
    tea = Dish(id=uuid.uuid4(), names={"ru": "Чай"}, price_tiyn=500, category=DishCategory.DRINK)
    assert refused_dishes([BAURSAK, tea], ["gluten"], ["pastry"]) == {BAURSAK.id: ["gluten", "pastry"]}
    assert refused_dishes([BAURSAK, tea], [], ["drink"]) == {tea.id: ["drink"]}
    assert refused_dishes([BAURSAK, tea], ["milk"], []) == {}


def test_a_dish_is_named_in_the_readers_language_even_after_a_rename(world: World) -> None:
    assert name_in({"ru": "Плов", "kk": "Палау"}, "en") == "Плов"  # no English name: Russian, as the office
    assert name_in({"kk": "Палау"}, "ru") == "Палау"
    with world.app.state.engine.begin() as conn:
        upsert_dish(conn, "s1", BAURSAK, actor="cook")
        change_dish(
            conn,
            "s1",
            BAURSAK.id,
            names={"kk": "Бауырсақ", "ru": "Баурсаки", "en": "Baursaks"},
            price_tiyn=10000,
            allergens=[Allergen.GLUTEN],
            actor="cook",
        )
        names = dish_names(conn, "s1")
    assert names.of("Баурсак", "kk") == "Бауырсақ"  # served under the old Russian name, read in Kazakh
    assert names.of("Баурсак", "en") == "Baursaks"  # ...and in English by its name now
    assert names.of("Манты", "kk") == "Манты"  # no dish of that name: as served


def test_the_childs_day_month_and_notice_name_dishes_in_kazakh_and_what_a_refusal_was_for(world: World) -> None:
    child = str(world.ids[CHILD])
    with world.app.state.engine.begin() as conn:
        serve_lunch_today(conn, "s1")  # plov: "Палау" in Kazakh, "Плов" in Russian
    lunch = {"period": "lunch", "category": "free", "dishes": ["Плов"], "price_tiyn": 0}
    ingest(
        world,
        event(1, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(30)),
        event(
            2,
            kind="denied",
            decision="denied",
            person_id=child,
            reason="category_banned",
            reason_detail=["pastry"],
            at=earlier_today(10),
        ),
    )
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    with world.app.state.engine.connect() as conn:
        day = child_day(conn, "s1", world.ids[CHILD], today, "kk")
        month = child_month(conn, "s1", world.ids[CHILD], today, "kk")
        names = dish_names(conn, "s1")
        listed = {e.reason: e.reason_detail for e in person_events(conn, "s1", child, today)}
    assert listed == {"category_banned": ["pastry"], "on_roster": []}  # the API and the office's page say it too
    assert day[0]["meal"]["dishes"] == ["Палау"]
    assert day[1]["reason"] == "category_banned" and day[1]["reason_detail"] == ["pastry"]
    assert [(d.meals, d.dishes) for d in month if d.day == today] == [(["lunch"], [["Палау"]])]
    received = datetime.now(UTC)
    refused = {**day[1], "id": uuid.uuid4(), "person_id": child, "occurred_at": received - timedelta(minutes=1)}
    notice = compose(refused, "Әлия", "kk", received_at=received, late_after=timedelta(minutes=5))
    assert "тыйым салынған тағам түрі бар: тоқаш өнімдері" in notice.body
    meal = {**day[0], "meal": lunch, "id": uuid.uuid4(), "person_id": child, "occurred_at": received}
    text = compose(meal, "Әлия", "en", received_at=received, late_after=timedelta(minutes=5), dishes=names).body
    assert "Плов" in text and "Палау" not in text  # no English name: the Russian one
    assert "Палау" in compose(meal, "Әлия", "kk", received_at=received, late_after=timedelta(5), dishes=names).body


def test_a_rating_is_shown_again_and_changed_in_place(world: World) -> None:
    child, mother = world.ids[CHILD], world.ids[MOTHER]
    lunch = {"period": "lunch", "category": "free", "dishes": ["Плов"], "price_tiyn": 0}
    ingest(world, event(1, kind="meal", person_id=str(child), reason="on_roster", meal=lunch, at=earlier_today(5)))
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    with world.app.state.engine.begin() as conn:
        assert ratings_given(conn, "s1", child, mother, today) == {}
        rate_meal(conn, "s1", child, mother, today, "lunch", 3, "суық")
        assert ratings_given(conn, "s1", child, mother, today) == {"lunch": (3, "суық")}
        rate_meal(conn, "s1", child, mother, today, "lunch", 5, "")
        assert ratings_given(conn, "s1", child, mother, today) == {"lunch": (5, "")}  # one rating, changed
