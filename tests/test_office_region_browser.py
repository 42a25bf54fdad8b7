"""The region and the ministry in the office, in a real browser (headless Chromium through Playwright).

The deployment's administrator makes an account for a region's education authority; the region's
specialist (password and authenticator code) finds October's reports of her schools, opens a
school's report and downloads its workbook, then reads the region's sums in tenge; the ministry's
analyst reads the country by region, sums only, and cannot open a school's report. Every page is kept
as a screenshot at 1280×800 and 768×1024 in test-artifacts/office-region/, checked by axe-core, and
must not scroll sideways at 768 px.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import insert, select

from cloud_api.app import create_app
from cloud_api.db.schema import people, schools
from cloud_api.reports.deadline import is_working_day
from cloud_api.reports.issue import issue_report
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateways import register_gateway
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, KEY2, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, TEEN

FOLDER = "office-region"
PASSWORD = "correct horse battery"
MONTH = "2026-10"
PLOV = 70000
STAFF = {
    "it@mektep.kz": (Role.DEPLOYMENT_ADMIN, None),
    "akimat@almaty.kz": (Role.REGION, "almaty"),
    "analyst@edu.kz": (Role.MINISTRY, None),
}


@dataclass
class Cloud:
    url: str
    app: Any
    secrets: dict[str, str]


def _october(url: str, who: dict[str, str]) -> None:
    """School s1's October as its gateway sends it: the child eats free, the teen at half price on Tuesdays."""
    days = [date(2026, 10, d) for d in range(1, 32) if is_working_day(date(2026, 10, d))]
    events = []
    for n, day in enumerate(days):
        meal = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
        events.append(
            event(
                2 * n + 1, kind="meal", person_id=who[CHILD], reason="on_roster", meal=meal, at=f"{day}T12:20:00+05:00"
            )
        )
        if day.weekday() == 1:
            half = {**meal, "category": "discounted", "price_tiyn": PLOV // 2}
            events.append(
                event(
                    2 * n + 2,
                    kind="meal",
                    person_id=who[TEEN],
                    reason="on_roster",
                    meal=half,
                    at=f"{day}T12:40:00+05:00",
                )
            )
    body = batch_body(events)
    answer = httpx.post(f"{url}{INGEST_PATH}", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов"}, price_tiyn=PLOV)
        secrets = {}
        with app.state.engine.begin() as conn:
            conn.execute(
                insert(schools),
                [
                    {"school_id": "s1", "name": "Школа-гимназия № 1", "region_id": "almaty"},
                    {"school_id": "s2", "name": "Школа-лицей № 2", "region_id": "almaty"},
                    {"school_id": "s3", "name": "Абай атындағы мектеп", "region_id": "abay"},
                ],
            )
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY2)
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM, at=datetime(2026, 9, 1, tzinfo=UTC))
            who = {r.iin: str(r.id) for r in conn.execute(select(people.c.iin, people.c.id))}
            set_meal_rules(
                conn, "s1", MealRules(periods=[MealPeriod(name="lunch", starts="12:00", ends="14:00")]), actor=SYSTEM
            )
            upsert_dish(conn, "s1", plov, actor=SYSTEM)
            for d in range(1, 32):
                menu = SetMeal(day=date(2026, 10, d), period="lunch", dish_ids=[plov.id], price_tiyn=PLOV)
                set_day_menu(conn, "s1", menu, actor=SYSTEM)
            for login, (role, scope) in STAFF.items():
                account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
                secrets[login] = begin_totp(conn, account.id, login, now).secret
                confirm_totp(conn, account.id, pyotp.TOTP(secrets[login]).now(), now, actor=SYSTEM, school_id=None)
        _october(server.url, who)
        with app.state.engine.begin() as conn:
            for kind in ("meals", "attendance"):
                issue_report(conn, "s1", MONTH, kind)
            issue_report(conn, "almaty", MONTH, "region")
            issue_report(conn, "KZ", MONTH, "country")
        yield Cloud(server.url, app, secrets)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _sign_in(page: Any, cloud: Cloud, login: str) -> None:
    office_sign_in(page, cloud.url, login, PASSWORD, cloud.secrets[login])


def test_the_deployment_admin_makes_a_region_account(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        _sign_in(page, cloud, "it@mektep.kz")
        page.get_by_role("link", name="Учётные записи регионов и министерства").first.click()
        _checked(page, "01-deployment-accounts")
        page.get_by_label("E-mail").fill("head@almaty-edu.kz")
        page.get_by_label("ФИО").fill("Серікова Айгүл")
        page.get_by_label("Регион", exact=True).select_option("almaty")
        page.get_by_role("button", name="Создать учётную запись").click()
        assert "head@almaty-edu.kz" in page.content()
        _checked(page, "02-account-letter")


def test_a_region_opens_a_schools_report_and_the_regions_sums(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        _sign_in(page, cloud, "akimat@almaty.kz")
        _checked(page, "03-region-start")
        page.get_by_role("link", name="Школы региона").first.click()
        page.get_by_label("Месяц").select_option(MONTH)
        page.get_by_role("button", name="Найти").click()
        page.wait_for_url(f"**month={MONTH}**")
        assert "Ждёт молчащий шлюз школы" in page.content() and "05.11.2026" in page.content()
        _checked(page, "04-region-schools")
        page.get_by_role("link", name="Школа-гимназия № 1").click()
        page.wait_for_url("**/schools/s1/reports")
        _checked(page, "05-school-reports")
        with page.expect_download() as download:
            page.get_by_role("link", name="meals.xlsx").click()
        assert download.value.suggested_filename == f"s1-{MONTH}-v1-meals.xlsx"
        page.get_by_role("link", name="Итоги", exact=True).click()
        page.get_by_label("Месяц").select_option(MONTH)
        page.get_by_role("button", name="Показать").click()
        page.wait_for_url(f"**month={MONTH}**")
        text = page.content()
        assert "Доля государства" in text and "₸" in text and "Двенадцать месяцев" in text
        _checked(page, "06-region-sums")


def test_the_ministry_sees_the_country_by_region_sums_only(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        _sign_in(page, cloud, "analyst@edu.kz")
        page.get_by_role("link", name="Регионы страны").first.click()
        page.get_by_label("Месяц").select_option(MONTH)
        page.get_by_role("button", name="Показать").click()
        page.wait_for_url(f"**month={MONTH}**")
        text = page.content()
        assert "almaty" in text and "abay" in text and "₸" in text and "Нұрланова" not in text
        _checked(page, "07-country")
        page.get_by_role("link", name="almaty").click()
        assert "Школа-гимназия № 1" in page.content()
        assert page.get_by_role("link", name="Школа-гимназия № 1").count() == 0  # sums only: no report to open
        _checked(page, "08-ministry-region")
        answer = page.goto(f"{cloud.url}/office/regions/almaty/schools/s1/reports")
        assert answer is not None and answer.status == 403
