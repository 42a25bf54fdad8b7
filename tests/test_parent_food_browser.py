"""A parent in Kazakh looks after their child's food in a real browser, on a 360 px phone.

She forbids pastries, sees the pastry marked on the day's menu as not for her daughter, reads the
child's day with the dishes in Kazakh (the gateway recorded them in Russian), rates the lunch, and
then changes the rating: the form shows the one she gave. Every page is free of critical and
serious axe-core violations and fits the phone's width. Screenshots go to test-artifacts/parent-food/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.family import ratings_given
from cloud_api.services.gateways import register_gateway
from cloud_api.services.menus import category_bans_of, set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from cloud_api.settings import CloudSettings
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, DishCategory, MealRules, SetMeal
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, lunch_around_now
from tests.cloud_api.test_push import earlier_today

FOLDER = "parent-food"
PASSWORD = "correct horse battery"
WIDTH = 360


@dataclass
class Cloud:
    url: str
    app: Any
    child: uuid.UUID
    mother: uuid.UUID


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """A school with today's lunch of plov and baursak (a pastry), and a lunch the child had."""
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        with app.state.engine.begin() as conn:
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
            who = {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}
            account = create_account(
                conn, "+77012345678", actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=who[MOTHER]
            )
            grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
            set_consent(conn, "s1", who[CHILD], who[MOTHER], True, actor="mother")
            register_gateway(conn, "gw1", "s1", KEY)
            set_meal_rules(conn, "s1", MealRules(periods=[lunch_around_now()]), actor="admin")
            plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов"}, price_tiyn=70000)
            baursak = Dish(
                id=uuid.uuid4(),
                names={"kk": "Бауырсақ", "ru": "Баурсак"},
                price_tiyn=10000,
                category=DishCategory.PASTRY,
            )
            for dish in (plov, baursak):
                upsert_dish(conn, "s1", dish, actor="cook")
            today = datetime.now(LOCAL_TZ).date()
            menu = SetMeal(day=today, period="lunch", dish_ids=[plov.id, baursak.id], price_tiyn=80000)
            set_day_menu(conn, "s1", menu, actor="cook")
        # Served before the ban, written by the gateway in Russian.
        lunch = {"period": "lunch", "category": "free", "dishes": ["Плов", "Баурсак"], "price_tiyn": 0}
        body = batch_body(
            [event(1, kind="meal", person_id=str(who[CHILD]), reason="on_roster", meal=lunch, at=earlier_today(20))]
        )
        assert httpx.post(f"{server.url}/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200
        yield Cloud(server.url, app, who[CHILD], who[MOTHER])


def checked(page: Any, name: str) -> None:
    """The page as she sees it: kept as a screenshot, no sideways scroll at 360 px, axe clean."""
    screenshot(page, FOLDER, name)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{name} scrolls sideways"
    assert accessibility_problems(page) == [], name


def test_a_parent_in_kazakh_forbids_pastry_reads_the_menu_and_changes_her_rating(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="kk-KZ", width=WIDTH, height=800) as page:
        page.goto(f"{cloud.url}/app/sign-in?lang=kk")
        page.fill("input[name=login]", "8 701 234 56 78")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{cloud.url}/app/")

        page.click(f"a[href='/app/children/{cloud.child}']")
        day = page.inner_text("section.card >> nth=0")
        assert "Палау, Бауырсақ" in day and "Плов" not in day  # her language, not the gateway's

        page.get_by_label("тоқаш өнімдері").check()  # pastry, as the form names it in Kazakh
        page.click("form.bans button")
        page.wait_for_selector("p.ok")
        assert page.get_by_label("тоқаш өнімдері").is_checked()
        checked(page, "1-child-pastry-forbidden")

        page.goto(f"{cloud.url}/app/menu")
        refused = page.locator("li.refused")
        assert refused.count() == 1 and "Бауырсақ" in refused.inner_text()
        assert "Әлия үшін шектеу: тоқаш өнімдері" in refused.inner_text()  # two children: hers named
        assert "шектеу" not in page.locator("li:not(.refused)").first.inner_text()  # the plov is fine
        checked(page, "2-menu-marked")

        page.goto(f"{cloud.url}/app/children/{cloud.child}")
        form = page.locator("form.rating")
        form.get_by_label("4★").check()
        form.get_by_label("Пікір").fill("Палау дәмді")
        form.get_by_role("button", name="Бағалау").click()
        page.wait_for_selector("p.ok")
        form = page.locator("form.rating")
        assert "Сіз 5-тен 4 баға қойдыңыз" in form.inner_text()  # the rating she gave, shown again
        assert form.get_by_label("4★").is_checked() and form.get_by_label("Пікір").input_value() == "Палау дәмді"
        checked(page, "3-rated")
        form.get_by_label("2★").check()
        form.get_by_label("Пікір").fill("Бүгін суық болды")
        form.get_by_role("button", name="Бағаны өзгерту").click()
        page.wait_for_selector("p.ok")
        assert page.locator("form.rating").get_by_label("2★").is_checked()
        checked(page, "4-rating-changed")

    today = datetime.now(LOCAL_TZ).date()
    with cloud.app.state.engine.connect() as conn:
        assert category_bans_of(conn, "s1", [cloud.child]) == {cloud.child: ["pastry"]}
        assert ratings_given(conn, "s1", cloud.child, cloud.mother, today) == {"lunch": (2, "Бүгін суық болды")}
