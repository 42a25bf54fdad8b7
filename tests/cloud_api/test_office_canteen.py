"""The canteen's pages of the office over HTTP: meal rules, dishes and photos, the menu planner, PINs.

The school's administrator (and, where the page is theirs too, the cook) fills the forms as people
do, in Russian; a wrong price, a missing name, a hostile file, another school's period or dish
each answer the form again with the error beside its field, never a 500.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from sqlalchemy import event, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import audit_log, people
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.canteen_pins import pins_of, staff_pins
from cloud_api.services.menu_week import copy_week, monday_of
from cloud_api.services.menus import (
    current_dishes,
    current_meal_rules,
    dish_history,
    menu_days,
    set_allergen_bans,
    set_meal_rules,
)
from cloud_api.services.photos import photo
from cloud_api.web.office.amounts import typed_tenge
from shared.localtime import local_date
from shared.roster_contract import MealPeriod, MealRules
from tests.cloud_api import test_office
from tests.cloud_api.school import CHILD, FATHER, MOTHER, OTHER_CHILD, S2_COOK, TEACHER, TEEN
from tests.cloud_api.test_office import Office, _signed_in_as, text_of

# The flows that run on Citus too (tests/cloud_api/conftest.py); the rest on SQLite and PostgreSQL.
ON_CITUS = (
    "test_the_admin_sets_meal_rules_shown_by_the_time_of_day",
    "test_a_dish_with_its_price_as_typed_category_and_allergens",
    "test_a_week_is_planned_warned_and_copied_to_the_next",
    "test_the_admin_sets_and_withdraws_a_cooks_pin_audited",
    "test_a_set_meal_and_its_price_go_to_the_journal_in_words",
)


settings = test_office.settings  # the office's fixtures: the card key, and the administrator signed in
office = test_office.office

# A Monday ahead (the cook plans no past day): the week after this one, in Almaty.
MONDAY = monday_of(local_date(datetime.now(UTC))) + timedelta(days=7)
RULES = {
    # Lunch typed first: the page shows the periods by the time of day, breakfast first.
    "name_0": "lunch",
    "starts_0": "12:30",
    "ends_0": "13:15",
    "free_0": "on",
    "name_1": "breakfast",
    "starts_1": "08:00",
    "ends_1": "08:30",
    "name_2": "",
    "starts_2": "",
    "ends_2": "",
}


def _rules(office: Office) -> None:
    assert office.post("/canteen/rules", RULES).status_code == 200


def _dish(office: Office, ru: str, price: str, *allergens: str, category: str = "main") -> UUID:
    answer = office.post(
        "/canteen/dishes/new", {"name_ru": ru, "price": price, "category": category, "allergens": list(allergens)}
    )
    assert answer.status_code == 200, text_of(answer.text)
    return UUID(str(answer.url).split("/dishes/")[1].split("?")[0])


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 120, 40))
    image.paste((20, 160, 60), (0, 0, width // 2, height))
    image.save(out, "PNG")
    return out.getvalue()


# -- meal rules ------------------------------------------------------------------------------------


def test_the_admin_sets_meal_rules_shown_by_the_time_of_day(office: Office) -> None:
    saved = office.post("/canteen/rules", RULES | {"prepaid": "on"})
    assert saved.status_code == 200 and "Правила питания сохранены" in text_of(saved.text)
    page = text_of(saved.text).split("Действуют")[1]
    assert page.index("завтрак") < page.index("обед")
    with office.app.state.engine.connect() as conn:
        rules, _version = current_meal_rules(conn, "s1")  # type: ignore[misc]
    assert [p.name for p in rules.periods] == ["breakfast", "lunch"]
    assert rules.free_periods == ["lunch"] and rules.prepaid
    # The JSON twin gives them in the same order.
    admin = office.world.token("head@s1.kz")
    assert [p["name"] for p in office.client.get("/v1/schools/s1/meal-rules", headers=admin).json()["periods"]] == [
        "breakfast",
        "lunch",
    ]


def test_wrong_meal_rules_are_refused_field_by_field(office: Office) -> None:
    backwards = office.post("/canteen/rules", RULES | {"starts_0": "13:30"})
    assert backwards.status_code == 422 and "Укажите время окончания позже времени начала" in text_of(backwards.text)
    assert 'id="ends_0-error"' in backwards.text
    overlap = office.post("/canteen/rules", RULES | {"starts_1": "12:00", "ends_1": "12:45"})
    assert overlap.status_code == 422 and 'id="starts_1-error"' in overlap.text
    nonsense = office.post("/canteen/rules", RULES | {"starts_0": "25:99", "name_1": "<script>"})
    assert (
        nonsense.status_code == 422 and 'id="starts_0-error"' in nonsense.text and 'id="name_1-error"' in nonsense.text
    )
    assert "<script>" not in nonsense.text
    # A name the contract would refuse (its first character not a letter or digit): beside the field, not a 500.
    for wrong in ("_lunch", "-snack", ".tea", "обед", "a b"):
        refused = office.post("/canteen/rules", RULES | {"name_1": wrong})
        assert refused.status_code == 422 and 'id="name_1-error"' in refused.text, wrong
    twice = office.post("/canteen/rules", RULES | {"name_1": "lunch"})
    assert twice.status_code == 422 and 'id="name_1-error"' in twice.text
    empty = office.post("/canteen/rules", {"name_0": "", "starts_0": "", "ends_0": ""})
    assert empty.status_code == 422
    with office.app.state.engine.connect() as conn:
        assert current_meal_rules(conn, "s1") is None


def test_the_cook_opens_dishes_and_the_planner_but_not_rules_or_pins(office: Office) -> None:
    _signed_in_as(office.world, "cook@s1.kz")
    assert office.get("/canteen/dishes").status_code == 200
    assert office.get("/canteen/menu").status_code == 200
    assert office.get("/canteen/rules").status_code == 403
    assert office.get("/canteen/pins").status_code == 403
    assert office.post("/canteen/rules", RULES).status_code == 403
    nav = text_of(office.get("/canteen").text)
    assert "Блюда" in nav and "Правила питания" not in nav


# -- dishes ----------------------------------------------------------------------------------------


def test_a_dish_with_its_price_as_typed_category_and_allergens(office: Office) -> None:
    dish_id = _dish(office, "Сырники", "1 200,50", "milk", "eggs", category="pastry")
    with office.app.state.engine.connect() as conn:
        (made,) = current_dishes(conn, "s1")
    assert made.id == dish_id and made.price_tiyn == 120050 and made.category == "pastry"
    assert sorted(made.allergens) == ["eggs", "milk"]
    listing = text_of(office.get("/canteen/dishes").text)
    assert "Сырники" in listing and "1 200,50 ₸" in listing and "выпечка" in listing
    # The JSON twin carries the category too.
    admin = office.world.token("head@s1.kz")
    assert office.client.get("/v1/schools/s1/dishes", headers=admin).json()[0]["category"] == "pastry"


def test_a_dish_form_refuses_a_wrong_price_a_missing_name_and_a_formula(office: Office) -> None:
    wrong = office.post("/canteen/dishes/new", {"name_ru": "Плов", "price": "семьсот"})
    assert wrong.status_code == 422 and 'id="price-error"' in wrong.text
    assert 'value="семьсот"' in wrong.text  # what was typed stays in the field
    nameless = office.post("/canteen/dishes/new", {"price": "700"})
    assert nameless.status_code == 422 and "Назовите блюдо" in text_of(nameless.text)
    formula = office.post("/canteen/dishes/new", {"name_ru": "=HYPERLINK(1)", "price": "700"})
    assert formula.status_code == 422 and 'id="name_ru-error"' in formula.text
    kind = office.post("/canteen/dishes/new", {"name_ru": "Плов", "price": "700", "category": "poison"})
    assert kind.status_code == 422 and 'id="category-error"' in kind.text
    with office.app.state.engine.connect() as conn:
        assert current_dishes(conn, "s1") == []


def test_the_price_history_says_who_changed_it_and_when(office: Office) -> None:
    dish_id = _dish(office, "Плов", "700")
    changed = office.post(f"/canteen/dishes/{dish_id}", {"name_ru": "Плов", "price": "900", "category": "main"})
    assert changed.status_code == 200
    history = text_of(changed.text).split("История цены")[1]
    assert history.index("900 ₸") < history.index("700 ₸")  # the newest first
    assert "head@s1.kz" in history and "Кто изменил" in history
    with office.app.state.engine.connect() as conn:
        assert [h["price_tiyn"] for h in dish_history(conn, "s1", dish_id)] == [70000, 90000]
        journal = conn.execute(
            select(audit_log.c.action, audit_log.c.actor, audit_log.c.before, audit_log.c.after)
            .where(audit_log.c.entity == "dish", audit_log.c.entity_id == str(dish_id))
            .order_by(audit_log.c.id)
        ).all()
    # Money: the journal says who set which price (the administrator's account, by its id).
    assert [(j.action, j.before, j.after["price_tiyn"]) for j in journal] == [
        ("create", None, 70000),
        ("update", {"price_tiyn": 70000}, 90000),
    ]
    assert journal[1].actor == f"account:{office.world.ids['head1']}"
    # The cook sees the history, but not who (the administrators' logins stay theirs).
    _signed_in_as(office.world, "cook@s1.kz")
    seen = text_of(office.get(f"/canteen/dishes/{dish_id}").text).split("История цены")[1]
    assert "900 ₸" in seen and "head@s1.kz" not in seen and "Кто изменил" not in seen


def test_the_cook_edits_a_dish_but_only_the_admin_sets_prices(office: Office) -> None:
    _rules(office)
    dish_id = _dish(office, "Плов", "700")
    _signed_in_as(office.world, "cook@s1.kz")
    page = office.get(f"/canteen/dishes/{dish_id}")
    assert 'name="price"' not in page.text and "Цены устанавливает администратор школы" in text_of(page.text)
    # Names, kind and allergens: the cook's; the price stays the administrator's.
    renamed = office.post(
        f"/canteen/dishes/{dish_id}", {"name_ru": "Плов с мясом", "category": "main", "allergens": ["gluten"]}
    )
    assert renamed.status_code == 200 and "Плов с мясом" in text_of(renamed.text)
    forged = office.post(f"/canteen/dishes/{dish_id}", {"name_ru": "Плов", "price": "1", "category": "main"})
    assert forged.status_code == 403 and 'id="price-error"' in forged.text
    assert "Цены устанавливает только администратор школы" in text_of(forged.text)
    forged_new = office.post("/canteen/dishes/new", {"name_ru": "Компот", "price": "50", "category": "drink"})
    assert forged_new.status_code == 403 and 'id="price-error"' in forged_new.text
    new = _dish(office, "Компот", "", category="drink")  # no price: the administrator sets it
    with office.app.state.engine.connect() as conn:
        prices = {d.id: (d.names["ru"], d.price_tiyn, list(d.allergens)) for d in current_dishes(conn, "s1")}
    assert prices == {dish_id: ("Плов с мясом", 70000, ["gluten"]), new: ("Компот", 0, [])}
    # A set meal: the dishes' sum; a typed price is the administrator's too.
    form = office.get(f"/canteen/menu/{MONDAY}/lunch")
    assert 'name="price"' not in form.text and "Цены устанавливает администратор школы" in text_of(form.text)
    typed = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(dish_id)], "price": "1"})
    assert typed.status_code == 403 and 'id="price-error"' in typed.text
    summed = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(dish_id)]})
    assert summed.status_code == 200
    with office.app.state.engine.connect() as conn:
        assert [m.meal.price_tiyn for m in menu_days(conn, "s1", MONDAY, 1)] == [70000]


def test_another_schools_dish_is_not_found(office: Office) -> None:
    dish_id = _dish(office, "Плов", "700")
    _signed_in_as(office.world, "cook@s2.kz")
    answer = office.client.get(f"/office/schools/s2/canteen/dishes/{dish_id}")
    assert answer.status_code == 404


def test_a_photo_is_cropped_square_where_chosen_and_a_hostile_file_refused(office: Office) -> None:
    dish_id = _dish(office, "Плов", "700")
    files = {"photo": ("plov.png", _png(400, 200), "image/png")}
    saved = office.post(f"/canteen/dishes/{dish_id}/photo", {"crop": "left"}, files=files)
    assert saved.status_code == 200 and "Фото сохранено" in text_of(saved.text)
    with office.app.state.engine.connect() as conn:
        (plov,) = current_dishes(conn, "s1")
        stored = photo(conn, plov.photo_url.rsplit("/", 1)[1])  # type: ignore[union-attr]
    image = Image.open(io.BytesIO(stored.data))  # type: ignore[union-attr]
    assert image.size == (200, 200) and image.getpixel((100, 100))[1] > 120  # the green left half
    assert office.client.get(plov.photo_url).status_code == 200  # type: ignore[arg-type]
    # The photo in force cut again: still square, no upload needed.
    assert office.post(f"/canteen/dishes/{dish_id}/photo/crop", {"crop": "center"}).status_code == 200
    whole = office.post(
        f"/canteen/dishes/{dish_id}/photo", {"crop": "whole"}, files={"photo": ("a.png", _png(300, 100), "image/png")}
    )
    assert whole.status_code == 200
    with office.app.state.engine.connect() as conn:
        (plov,) = current_dishes(conn, "s1")
        stored = photo(conn, plov.photo_url.rsplit("/", 1)[1])  # type: ignore[union-attr]
    assert Image.open(io.BytesIO(stored.data)).size == (300, 100)  # type: ignore[union-attr]
    hostile = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"
    refused = office.post(f"/canteen/dishes/{dish_id}/photo", {"crop": "center"}, files={"photo": ("x.png", hostile)})
    assert refused.status_code == 422 and 'id="photo_file-error"' in refused.text
    bad_crop = office.post(f"/canteen/dishes/{dish_id}/photo/crop", {"crop": "diagonal"})
    assert bad_crop.status_code == 422


# -- the menu planner ------------------------------------------------------------------------------


def test_a_week_is_planned_warned_and_copied_to_the_next(office: Office) -> None:
    _rules(office)
    plov = _dish(office, "Плов", "700", "gluten")
    bread = _dish(office, "Хлеб", "50", "gluten")
    tea = _dish(office, "Чай", "100", category="drink")
    with office.app.state.engine.begin() as conn:
        set_allergen_bans(conn, "s1", office.id(CHILD), office.id(MOTHER), ["gluten"], actor="mother")
        set_allergen_bans(conn, "s1", office.id(OTHER_CHILD), office.id(FATHER), ["gluten", "milk"], actor="father")
    _signed_in_as(office.world, "cook@s1.kz")
    lunch = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(plov), str(bread)]})
    assert lunch.status_code == 200 and "Комплекс сохранён" in text_of(lunch.text)
    week = text_of(lunch.text)
    assert "750 ₸" in week  # the dishes' sum
    assert "Каждое блюдо содержит глютен: 2 ребёнка с запретом" in week
    assert week.index("завтрак") < week.index("обед")
    _signed_in_as(office.world, "head@s1.kz")  # a typed price of a set meal is the administrator's
    breakfast = office.post(
        f"/canteen/menu/{MONDAY + timedelta(days=1)}/breakfast", {"dishes": [str(tea)], "price": "80"}
    )
    assert breakfast.status_code == 200 and "80 ₸" in text_of(breakfast.text)
    # Next week's Monday lunch already planned: copying overwrites it, and says so first.
    office.post(f"/canteen/menu/{MONDAY + timedelta(days=7)}/lunch", {"dishes": [str(tea)]})
    check = office.get(
        "/canteen/menu/copy", **{"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=7)).isoformat()}
    )
    said = text_of(check.text)
    assert "Будет скопировано комплексов: 2." in said and "1 из них заменит" in said
    copied = office.post(
        "/canteen/menu/copy", {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=7)).isoformat()}
    )
    assert copied.status_code == 200 and "Неделя скопирована" in text_of(copied.text)
    with office.app.state.engine.connect() as conn:
        following = menu_days(conn, "s1", MONDAY + timedelta(days=7), 7)
    assert [(m.meal.day.weekday(), m.meal.period, m.meal.price_tiyn) for m in following] == [
        (0, "lunch", 75000),
        (1, "breakfast", 8000),
    ]


def test_a_set_meal_form_refuses_no_dish_a_wrong_price_and_others_periods_and_dishes(office: Office) -> None:
    _rules(office)
    plov = _dish(office, "Плов", "700")
    nothing = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": []})
    assert (
        nothing.status_code == 422
        and 'id="dishes"' in nothing.text
        and "Выберите хотя бы одно блюдо" in text_of(nothing.text)
    )
    price = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(plov)], "price": "-5"})
    assert price.status_code == 422 and 'id="price-error"' in price.text
    foreign = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(UUID(int=7))]})
    assert foreign.status_code == 422 and "Выберите блюда из списка" in text_of(foreign.text)
    garbage = office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": ["not-an-id"]})
    assert garbage.status_code == 422
    # A period s1 does not have (s2's, say, or a made-up one) is refused in words, never a 500.
    with office.app.state.engine.begin() as conn:
        set_meal_rules(
            conn,
            "s2",
            MealRules(periods=[MealPeriod(name="dinner", starts=time(17), ends=time(18))], free_periods=[]),
            actor="s2",
        )
    for answer in (
        office.post(f"/canteen/menu/{MONDAY}/dinner", {"dishes": [str(plov)]}),
        office.get(f"/canteen/menu/{MONDAY}/dinner"),
    ):
        assert answer.status_code == 422 and "такого приёма пищи нет в правилах школы" in text_of(answer.text)
    assert office.get("/canteen/menu/not-a-day/lunch").status_code == 404
    same = office.post("/canteen/menu/copy", {"from": MONDAY.isoformat(), "to": MONDAY.isoformat()})
    assert same.status_code == 422 and 'id="to-error"' in same.text
    with office.app.state.engine.connect() as conn:
        assert menu_days(conn, "s1", MONDAY, 7) == []


# -- canteen PINs ----------------------------------------------------------------------------------


def test_the_admin_sets_and_withdraws_a_cooks_pin_audited(office: Office) -> None:
    cook = office.id(TEACHER)
    page = text_of(office.get("/canteen/pins").text)
    assert "Сейітов Марат" in page and "cook@s1.kz" in page
    differ = office.post(f"/canteen/pins/{cook}", {"pin": "4821", "pin_again": "4812"})
    assert differ.status_code == 422 and f'id="pin_again-{cook}-error"' in differ.text
    short = office.post(f"/canteen/pins/{cook}", {"pin": "12a", "pin_again": "12a"})
    assert short.status_code == 422 and f'id="pin-{cook}-error"' in short.text
    saved = office.post(f"/canteen/pins/{cook}", {"pin": "4821", "pin_again": "4821"})
    assert saved.status_code == 200 and "PIN-код сохранён" in text_of(saved.text)
    with office.app.state.engine.connect() as conn:
        assert list(pins_of(conn, "s1")) == [cook]
    withdrawn = office.post(f"/canteen/pins/{cook}/withdraw")
    assert withdrawn.status_code == 200 and "PIN-код отозван" in text_of(withdrawn.text)
    with office.app.state.engine.connect() as conn:
        assert pins_of(conn, "s1") == {}
        journal = conn.execute(select(audit_log.c.entity).where(audit_log.c.entity_id == str(cook))).scalars().all()
    assert journal.count("canteen_pin") == 2
    # Another school's staff member, or a pupil: refused beside the field.
    for someone in (office.id(S2_COOK), office.id(TEEN)):
        other = office.post(f"/canteen/pins/{someone}", {"pin": "4821", "pin_again": "4821"})
        assert other.status_code == 422 and "не сотрудник этой школы" in text_of(other.text)


def test_periods_go_by_the_time_of_day_in_the_menu_not_by_name(office: Office) -> None:
    # A morning snack at ten comes before lunch, although "lunch" < "snack" by name.
    morning = RULES | {"name_1": "snack", "starts_1": "10:00", "ends_1": "10:20"}
    assert office.post("/canteen/rules", morning).status_code == 200
    tea = _dish(office, "Чай", "100", category="drink")
    for period in ("lunch", "snack"):
        assert office.post(f"/canteen/menu/{MONDAY}/{period}", {"dishes": [str(tea)]}).status_code == 200
    with office.app.state.engine.connect() as conn:
        assert [m.meal.period for m in menu_days(conn, "s1", MONDAY, 1)] == ["snack", "lunch"]
    admin = office.world.token("head@s1.kz")
    menu = office.client.get("/v1/schools/s1/menu", params={"from": MONDAY.isoformat(), "days": 1}, headers=admin)
    assert [m["period"] for m in menu.json()] == ["snack", "lunch"]
    week = text_of(office.get("/canteen/menu", week=MONDAY.isoformat()).text)
    assert week.index("полдник") < week.index("обед")


@pytest.mark.parametrize(
    ("typed", "tiyn"),
    [
        ("700", 70000),
        ("700,50", 70050),
        ("700.5", 70050),
        ("1 200", 120000),
        ("1\u00a0200,05 ₸", 120005),
        (" 80 тг ", 8000),
        ("80 тг.", 8000),
        ("80,5 тг.", 8050),
        ("1 200 теңге", 120000),
        ("1 200 тенге", 120000),
        ("700₸", 70000),
        ("700 KZT", 70000),
        ("700 kzt", 70000),
        ("тг", None),
        ("0", 0),
        ("", None),
        ("-5", None),
        ("7,005", None),
        ("семьсот", None),
        ("1e3", None),
        ("100001", None),  # over 100 000 ₸: a zero too many
    ],
)
def test_a_price_is_read_as_people_type_it(typed: str, tiyn: int | None) -> None:
    assert typed_tenge(typed) == tiyn


def test_a_date_out_of_any_school_year_falls_back_to_this_week_or_a_field_error(office: Office) -> None:
    _rules(office)
    this_week = monday_of(local_date(datetime.now(UTC)))
    for typed in ("0001-01-01", "31.12.9999", "9999-12-31", "01.01.1999"):
        week = office.get("/canteen/menu", week=typed)
        assert week.status_code == 200, typed
        assert f"week={(this_week + timedelta(days=7)).isoformat()}" in week.text  # the next week's link
        assert office.get("/canteen/menu/copy", to=typed).status_code == 200
        assert office.get(f"/canteen/menu/{typed}/lunch").status_code == 404
    copied = office.post("/canteen/menu/copy", {"from": this_week.isoformat(), "to": "0001-01-01"})
    assert copied.status_code == 422 and 'id="to-error"' in copied.text
    copied = office.post("/canteen/menu/copy", {"from": "31.12.9999", "to": this_week.isoformat()})
    assert copied.status_code == 422 and 'id="from-error"' in copied.text


def test_past_days_are_the_admins_alone_and_no_week_is_copied_onto_them(office: Office) -> None:
    _rules(office)
    tea = _dish(office, "Чай", "100", category="drink")
    today = local_date(datetime.now(UTC))
    yesterday = today - timedelta(days=1)
    assert office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(tea)]}).status_code == 200
    # A week copied onto days already past would re-price the meals served then: refused beside the field.
    past = MONDAY - timedelta(days=14)
    refused = office.post("/canteen/menu/copy", {"from": MONDAY.isoformat(), "to": past.isoformat()})
    assert refused.status_code == 422 and 'id="to-error"' in refused.text
    assert "Эти дни уже прошли" in text_of(refused.text)
    with office.app.state.engine.begin() as conn, pytest.raises(DomainError) as raised:
        copy_week(conn, "s1", MONDAY, past, actor="test")
    assert raised.value.code == "day_in_past"
    # The cook plans no past day; the administrator enters a forgotten menu afterwards.
    _signed_in_as(office.world, "cook@s1.kz")
    late = office.post(f"/canteen/menu/{yesterday}/lunch", {"dishes": [str(tea)]})
    assert late.status_code == 422 and "Этот день уже прошёл" in text_of(late.text)
    assert office.post("/canteen/menu/copy", {"from": MONDAY.isoformat(), "to": past.isoformat()}).status_code == 422
    _signed_in_as(office.world, "head@s1.kz")
    assert office.post(f"/canteen/menu/{yesterday}/lunch", {"dishes": [str(tea)]}).status_code == 200
    with office.app.state.engine.connect() as conn:
        assert [m.meal.day for m in menu_days(conn, "s1", past - timedelta(days=7), 35)] == [yesterday, MONDAY]


def test_a_set_meal_and_its_price_go_to_the_journal_in_words(office: Office) -> None:
    _rules(office)
    plov = _dish(office, "Плов", "700")
    tea = _dish(office, "Чай", "50", category="drink")
    assert office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(plov)]}).status_code == 200
    assert office.post(f"/canteen/menu/{MONDAY}/lunch", {"dishes": [str(plov), str(tea)]}).status_code == 200
    copied = office.post("/canteen/menu/copy", {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(7)).isoformat()})
    assert copied.status_code == 200
    with office.app.state.engine.connect() as conn:
        journal = conn.execute(
            select(audit_log.c.action, audit_log.c.entity_id, audit_log.c.before, audit_log.c.after)
            .where(audit_log.c.entity == "set_meal")
            .order_by(audit_log.c.id)
        ).all()
    assert [(j.action, j.entity_id, j.before and j.before["price_tiyn"], j.after["price_tiyn"]) for j in journal] == [
        ("create", f"{MONDAY}/lunch", None, 70000),
        ("update", f"{MONDAY}/lunch", 70000, 75000),
        ("create", f"{MONDAY + timedelta(7)}/lunch", None, 75000),
    ]
    assert journal[1].after["dish_ids"] == [str(plov), str(tea)]
    page = text_of(office.client.get("/office/schools/s1/journal", headers={"Accept-Language": "ru"}).text)
    assert "комплекс дня" in page and "Цена: 700 ₸ → 750 ₸" in page and "Блюда: 1 блюдо → 2 блюда" in page
    only = office.client.get(
        "/office/schools/s1/journal", params={"kind": "set_meal"}, headers={"Accept-Language": "ru"}
    )
    assert "Цена: 700 ₸ → 750 ₸" in text_of(only.text) and "Плов" not in text_of(only.text)  # no dish entry


@contextmanager
def _statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_pins_page_reads_every_staff_accounts_roles_at_once(office: Office) -> None:
    engine = office.app.state.engine
    with engine.begin() as conn:
        teacher = conn.execute(select(people).where(people.c.id == office.id(TEACHER))).mappings().one()
        for i in range(3):  # three more cooks, each with an account
            person = UUID(int=1000 + i)
            fake = {"id": person, "last_name": f"Повар{i}", "iin": f"99010100000{i}"}
            # The copy's blind index is made from its own IIN, not taken from the teacher's row.
            copied = {k: v for k, v in teacher.items() if k != "iin_index"}
            conn.execute(insert(people).values({**copied, **fake}))
            made = create_account(conn, f"cook{i}@s1.kz", actor=SYSTEM, school_id="s1", person_id=person)
            grant_role(conn, made.id, Role.CANTEEN_STAFF, "s1", actor=SYSTEM)
    with engine.connect() as conn, _statements(engine) as seen:
        staff = staff_pins(conn, "s1")
    assert sum(s.canteen for s in staff) == 4
    assert sum("role_grants" in s for s in seen) == 1  # one query, not one per account
    page = text_of(office.get("/canteen/pins").text)
    assert "Повар2" in page and "cook2@s1.kz" in page
