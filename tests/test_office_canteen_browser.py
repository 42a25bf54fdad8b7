"""The school's administrator runs the canteen from the office in a real browser (headless Chromium).

She sets the meal rules (lunch typed before breakfast, shown by the time of day), adds dishes, gives
one a photo cut square on the left (the page previews the crop before the upload), changes a price
and reads its history, plans a week's set meal and sees the warning that a gluten-free child would
have nothing to eat, copies the week to the next after checking what will be copied, and sets the
cook's canteen PIN. Every page is kept as a screenshot at 1280 and 768 px in
test-artifacts/office-canteen/, checked by axe-core, and must not scroll sideways at 768 px.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from PIL import Image
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, create_school_admin, grant_role
from cloud_api.services.canteen_pins import pins_of
from cloud_api.services.menu_week import monday_of
from cloud_api.services.menus import menu_days, set_allergen_bans
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.localtime import local_date
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER

FOLDER = "office-canteen"
LOGIN = "head@s1.kz"
PASSWORD = "correct horse battery"
# A Monday ahead, so that copying its week lands on days to come: the week after this one, in Almaty.
MONDAY = monday_of(local_date(datetime.now(UTC))) + timedelta(days=7)


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        with app.state.engine.begin() as conn:
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
            ids = dict(conn.execute(select(people.c.iin, people.c.id)).all())
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            cook = create_account(conn, "cook@s1.kz", actor=SYSTEM, school_id="s1", person_id=ids[TEACHER])
            grant_role(conn, cook.id, Role.CANTEEN_STAFF, "s1", actor=SYSTEM)
            # A mother has forbidden gluten for her daughter (in the parents' app).
            set_allergen_bans(conn, "s1", ids[CHILD], ids[MOTHER], ["gluten"], actor="mother")
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
        yield Cloud(server.url, app, secret)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _photo(path: Path) -> Path:
    image = Image.new("RGB", (600, 400), (230, 180, 90))
    image.paste((40, 140, 60), (0, 0, 200, 400))  # a green left third: the part she keeps
    out = io.BytesIO()
    image.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def _add_dish(page: Any, kk: str, ru: str, price: str, category: str, *allergens: str) -> None:
    page.get_by_role("link", name="Блюда", exact=True).click()
    page.get_by_role("link", name="Добавить блюдо").click()
    page.locator("#name_kk").fill(kk)
    page.locator("#name_ru").fill(ru)
    page.get_by_label("Цена, тенге").fill(price)
    page.get_by_label("Вид блюда").select_option(category)
    for allergen in allergens:
        page.get_by_label(allergen, exact=True).check()
    page.get_by_role("button", name="Сохранить блюдо").click()
    page.wait_for_url("**done=dish_saved**")


def test_the_admin_runs_the_canteen_from_the_office(cloud: Cloud, tmp_path: Path) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/schools/s1/canteen")
        _checked(page, "01-canteen-day")

        # Meal rules: lunch typed first, a lunch that ends before it starts refused beside the field.
        page.get_by_role("link", name="Правила питания").click()
        page.locator("#name_0").select_option("lunch")
        page.locator("#starts_0").fill("12:30")
        page.locator("#ends_0").fill("12:00")
        page.locator("#free_0").check()
        page.locator("#name_1").select_option("breakfast")
        page.locator("#starts_1").fill("08:00")
        page.locator("#ends_1").fill("08:30")
        page.get_by_role("button", name="Сохранить правила питания").click()
        assert "Укажите время окончания позже времени начала." in page.locator("#ends_0-error").inner_text()
        _checked(page, "02-rules-error")
        page.locator("#ends_0").fill("13:15")
        page.get_by_role("button", name="Сохранить правила питания").click()
        page.wait_for_url("**done=meal_rules_saved**")
        in_force = page.locator("section", has=page.get_by_role("heading", name="Действуют")).inner_text()
        assert in_force.index("завтрак") < in_force.index("обед")
        _checked(page, "03-rules")

        # Dishes, one with a photo cut square on the left.
        _add_dish(page, "Палау", "Плов", "1 200", "main", "глютен")
        page.get_by_label("Файл фото").set_input_files(str(_photo(tmp_path / "plov.jpg")))
        page.get_by_label("Обрезать", exact=True).select_option("left")
        page.locator("#photo-preview img").wait_for(state="visible")
        _checked(page, "04-dish-photo-preview")
        page.get_by_role("button", name="Загрузить").click()
        page.wait_for_url("**done=photo_saved**")
        assert page.locator("img.dish-photo").evaluate("i => i.naturalWidth === i.naturalHeight")
        page.get_by_label("Цена, тенге").fill("900")
        page.get_by_role("button", name="Сохранить блюдо").click()
        page.wait_for_url("**done=dish_saved**")
        history = page.locator("section", has=page.get_by_role("heading", name="История цены")).inner_text()
        history = history.replace("\xa0", " ")
        assert "900 ₸" in history and "1 200 ₸" in history and LOGIN in history
        assert history.count("₸") == 2  # the photo changed no price: not a line of the price history
        _checked(page, "05-dish")
        _add_dish(page, "Нан", "Хлеб", "50", "pastry", "глютен")
        _add_dish(page, "Шай", "Чай", "80,50", "drink")
        page.get_by_role("link", name="Блюда", exact=True).click()
        _checked(page, "06-dishes")

        # The week: Monday's lunch of plov and bread holds gluten in every dish.
        page.goto(f"{cloud.url}/office/schools/s1/canteen/menu?week={MONDAY}")
        page.locator(f"a[href$='/canteen/menu/{MONDAY}/lunch']").click()
        page.get_by_label("Плов").check()
        page.get_by_label("Хлеб").check()
        _checked(page, "07-set-meal")
        page.get_by_role("button", name="Сохранить комплекс").click()
        page.wait_for_url("**done=set_meal_saved**")
        warning = page.locator("td.has-gap").inner_text().replace("\xa0", " ")
        assert "Каждое блюдо содержит глютен" in warning and "1 ребёнок с запретом" in warning
        assert "950 ₸" in warning  # the dishes' sum
        assert page.locator(".warning h2").inner_text().startswith("Внимание")
        _checked(page, "08-menu-week")

        # Copied to the next week, after seeing what will be copied.
        page.get_by_role("link", name="Копировать эту неделю на следующую").click()
        assert "Будет скопировано комплексов: 1." in page.content()
        _checked(page, "09-copy-week")
        page.get_by_role("button", name="Копировать неделю").click()
        page.wait_for_url("**done=week_copied**")
        assert "Неделя скопирована." in page.content() and "Плов" in page.locator("table.week").inner_text()
        with cloud.app.state.engine.connect() as conn:
            assert [m.meal.day for m in menu_days(conn, "s1", MONDAY, 14)] == [MONDAY, MONDAY + timedelta(days=7)]

        # The cook's canteen PIN, typed twice.
        page.get_by_role("link", name="PIN-коды столовой").click()
        row = page.locator("section.pin-row", has=page.get_by_role("heading", name="Сейітов Марат"))
        row.locator("summary").click()
        row.get_by_label("Новый PIN-код (от 4 до 8 цифр)").fill("4821")
        row.get_by_label("Тот же PIN-код ещё раз").fill("4821")
        row.get_by_role("button", name="Сохранить PIN-код").click()
        page.wait_for_url("**done=pin_saved**")
        _checked(page, "10-pins")
        with cloud.app.state.engine.connect() as conn:
            assert len(pins_of(conn, "s1")) == 1
