"""A mother minds her son's money on her phone (headless Chromium at 360 px, through Playwright).

She opens the money page from the start page, sees the balance and the month's statement with the
school's top-up and today's paid lunch, each with the balance after it; types a daily limit wrongly
and is told beside the field, then as she would ("1 500"); downloads the statement as CSV; sets
the low-balance notice at 1 200 ₸. Then the canteen's gateway sends another paid lunch through the
real ingest, the balance falls below 1 200 ₸, and the notice reaches her phone: the push simulator
decrypts it (RFC 8291) as her browser would. Every page is kept as a screenshot at 360×780 in
test-artifacts/parent-money/, checked by axe-core, and must not scroll sideways.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateways import register_gateway
from cloud_api.services.prepaid import EntryKind, record_credit
from cloud_api.services.roster_import import import_roster
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from simulators.http_server import ThreadedServer
from simulators.push_service import PushServiceServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import GOOD, HEADER, MOTHER, TEEN, serve_lunch_today
from tests.cloud_api.test_push import earlier_today

FOLDER = "parent-money"
PHONE = "+77012345678"
PASSWORD = "correct horse battery"


@dataclass
class Cloud:
    url: str
    push: PushServiceServer
    teen: UUID


def _lunch(seq: int, teen: UUID, price_tiyn: int, minutes_ago: float) -> bytes:
    meal = {"period": "lunch", "category": "paid", "dishes": ["Плов", "Компот"], "price_tiyn": price_tiyn}
    at = earlier_today(minutes_ago)
    return batch_body([event(seq, kind="meal", person_id=str(teen), reason="on_roster", meal=meal, at=at)])


def _ingest(url: str, body: bytes) -> None:
    assert httpx.post(url + INGEST_PATH, content=body, headers=signed(body)).status_code == 200


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with PushServiceServer() as push:
        settings = CloudSettings(
            database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
            admin_token=ADMIN,
            push_workers=1,
            push_service_origins=[push.url],  # the simulator on 127.0.0.1, listed as a deployment lists the browsers'
        )
        app = create_app(settings)
        with ThreadedServer(lambda: app, "cloud") as server:
            with app.state.engine.begin() as conn:
                import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
                who = {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}
                account = create_account(
                    conn, PHONE, actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=who[MOTHER]
                )
                grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
                register_gateway(conn, "gw1", "s1", KEY)
                serve_lunch_today(conn, "s1", prepaid=True)  # families top up; the canteen charges the balance
                # She paid 2 000 tenge at the school's office; Пётр had a paid lunch of 700 today.
                record_credit(conn, "s1", who[TEEN], 2_000_00, EntryKind.TOP_UP, actor=SYSTEM, receipt="КО-5")
            _ingest(server.url, _lunch(1, who[TEEN], 700_00, 90))
            yield Cloud(server.url, push, who[TEEN])


def _checked(page: Any, name: str) -> None:
    """Kept as a screenshot at 360 px, with no sideways scroll and no critical or serious axe violation."""
    screenshot(page, FOLDER, name)
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 360, f"{name} scrolls sideways ({wide} px)"
    assert accessibility_problems(page) == [], name


def _text(page: Any, selector: str = "main") -> str:
    return str(page.locator(selector).inner_text()).replace("\u00a0", " ")


def test_a_mother_minds_her_sons_money_and_is_told_when_it_runs_low(cloud: Cloud, tmp_path: Path) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=360, height=780) as page:
        page.goto(f"{cloud.url}/app/sign-in?lang=ru")
        page.fill("input[name=login]", "8 701 234 56 78")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{cloud.url}/app/")
        assert "Баланс: 1 300 ₸" in _text(page)
        _checked(page, "1-home")

        page.click(f"a[href='/app/children/{cloud.teen}/money']")
        assert _text(page, ".balance-now") == "1 300 ₸"
        statement = _text(page, "table.statement-lines")
        assert "Пополнение" in statement and "квитанция № КО-5" in statement and "+2 000 ₸" in statement
        assert "обед: Плов, Компот" in statement and "-700 ₸" in statement
        balances = page.locator("table.statement-lines td[data-label='Баланс']").all_inner_texts()
        assert [b.replace("\u00a0", " ") for b in balances] == ["2 000 ₸", "1 300 ₸"]  # after each line
        assert "Баланс на начало периода\n0 ₸" in _text(page, "dl.totals")
        _checked(page, "2-money")

        # A limit typed as a word: told beside the field and in the summary, nothing saved.
        page.get_by_label("Дневной лимит, ₸").fill("полторы тысячи")
        page.get_by_role("button", name="Сохранить лимит").click()
        assert "Введите сумму в тенге" in _text(page, ".error-summary")
        assert "Введите сумму в тенге" in _text(page, "#limit-error")
        _checked(page, "3-limit-error")
        page.get_by_label("Дневной лимит, ₸").fill("1 500")
        page.get_by_role("button", name="Сохранить лимит").click()
        page.wait_for_url("**/money?saved=limit")
        assert "Сейчас: не больше 1 500 ₸ в день." in _text(page)

        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").click()
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
        assert [row[1:] for row in rows[1:]] == [
            ["Баланс на начало периода", "", "", "0"],
            ["Пополнение", "квитанция № КО-5", "2000", "2000"],
            ["Питание", "обед: Плов, Компот", "-700", "1300"],
        ]

        page.get_by_label("Сообщить, когда баланс станет ниже, ₸").fill("1 200")
        page.get_by_role("button", name="Сохранить уведомление").click()
        page.wait_for_url("**/money?saved=notice")
        assert "Сейчас: уведомление, когда баланс станет ниже 1 200 ₸." in _text(page)
        _checked(page, "4-limit-and-notice")

        # Her phone gets notices (its browser subscribed, as the settings page's script does).
        phone = cloud.push.state.new_device()
        with httpx.Client(base_url=cloud.url, timeout=10) as api:
            token = api.post("/v1/auth/sign-in", json={"login": PHONE, "password": PASSWORD}).json()["token"]
            mother = {"Authorization": f"Bearer {token}"}
            subscribed = api.post("/v1/me/push-subscriptions", json=phone.subscription(cloud.push.url), headers=mother)
            assert subscribed.status_code == 201
            assert api.put("/v1/me/notification-settings", json={"language": "ru"}, headers=mother).status_code == 200

        # Another paid lunch reaches the cloud: 600 ₸ left, below her 1 200 ₸.
        _ingest(cloud.url, _lunch(2, cloud.teen, 700_00, 1))
        assert cloud.push.state.wait_for(lambda got: len(got) == 1, timeout_s=20), cloud.push.state.refused
        [notice] = cloud.push.state.for_device(phone)
        assert notice["body"].replace("\u00a0", " ") == (
            "Пётр: на балансе для питания 600 ₸, меньше порога 1 200 ₸. Пополните баланс, чтобы ребёнок мог поесть"
        )

        page.reload()
        assert _text(page, ".balance-now") == "600 ₸"
        _checked(page, "5-after-lunch")
