"""A school secretary takes a family's money in a real browser (headless Chromium through Playwright).

She signs in, opens Money, finds a pupil whose lunch was paid from the balance, records the cash a
parent brought (the receipt, the sum as she types it, a check step), sees the balance move, tries
the same receipt again and is told it is recorded already, downloads the statement as a PDF and a
workbook and finds the top-up in both, corrects the balance with a reason, and opens the list of
pupils to call. Every page is kept as a screenshot at 1280×800 and 768×1024 in
test-artifacts/office-money/, checked by axe-core, and must not scroll sideways at 768 px.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.services.gateways import register_gateway
from cloud_api.services.prepaid import EntryKind, record_credit
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, S1_EXTRA, TEEN

FOLDER = "office-money"
LOGIN = "secretary@s1.kz"
PASSWORD = "correct horse battery"


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
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor=SYSTEM)
            register_gateway(conn, "gw1", "s1", KEY)
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            ids = {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}
            # Әлия's family paid a little in September; it is nearly spent.
            record_credit(conn, "s1", ids[CHILD], 300_00, EntryKind.TOP_UP, actor=SYSTEM, receipt="КО-1")
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
        # Пётр ate a paid lunch today: the canteen's gateway sends it, as it does every meal.
        lunch = (datetime.now(LOCAL_TZ) - timedelta(minutes=1)).isoformat(timespec="seconds")
        meal = {"period": "lunch", "category": "paid", "dishes": ["Плов", "Компот"], "price_tiyn": 900_00}
        body = batch_body([event(1, at=lunch, kind="meal", person_id=str(ids[TEEN]), reason="ok", meal=meal)])
        assert httpx.post(server.url + INGEST_PATH, content=body, headers=signed(body)).status_code == 200
        yield Cloud(server.url, app, secret)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _balance_now(page: Any) -> str:
    return page.locator(".balance-now").inner_text().replace("\u00a0", " ")


def _top_up(page: Any, receipt: str, amount: str, *, shots: str = "") -> None:
    page.get_by_role("link", name="Записать пополнение").click()
    if shots:
        _checked(page, f"{shots}-form")
    page.get_by_label("Способ оплаты").select_option("cash")
    page.get_by_label("Номер квитанции").fill(receipt)
    page.get_by_label("Сумма, ₸").fill(amount)
    page.get_by_role("button", name="Продолжить").click()


def test_a_secretary_records_a_top_up_and_reads_the_statement(cloud: Cloud, tmp_path: Path) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)

        # Money: every class with its total; Пётр owes for his lunch.
        page.goto(f"{cloud.url}/office/schools/s1/today")
        page.get_by_role("link", name="Деньги", exact=True).click()
        page.wait_for_url("**/money")
        _checked(page, "01-balances")
        assert "-900 ₸" in page.locator("table.list").last.inner_text().replace("\u00a0", " ")
        page.get_by_role("link", name="Иванов Пётр").click()
        assert _balance_now(page) == "-900 ₸"
        assert "обед: Плов, Компот" in page.locator("table.statement").inner_text()
        _checked(page, "02-statement")

        # His mother brought 5 000 tenge in cash: the receipt, the sum, then a check before it counts.
        _top_up(page, "ко-77", "5 000", shots="03-top-up")
        _checked(page, "04-check")
        check = page.locator("main").inner_text().replace("\u00a0", " ")
        assert "КО-77" in check and "-900 ₸ → 4 100 ₸" in check
        page.get_by_role("button", name="Записать пополнение").click()
        page.wait_for_url("**/money/children/*?done=top_up_recorded")
        assert page.get_by_role("status").inner_text() == "Пополнение записано."
        assert _balance_now(page) == "4 100 ₸"
        _checked(page, "05-statement-after")

        # The same receipt again (a second click, a second secretary): refused beside the field.
        _top_up(page, "КО-77", "5000")
        assert "уже записана" in page.locator("#receipt-error").inner_text()
        assert page.locator("#error-summary").is_visible()
        _checked(page, "06-receipt-again")
        page.get_by_role("link", name="Отмена").click()
        assert _balance_now(page) == "4 100 ₸"  # credited once

        # The statement as a PDF and as a workbook, each with the top-up in it.
        with page.expect_download() as pdf_download:
            page.get_by_role("link", name="PDF").click()
        pdf_download.value.save_as(Path("test-artifacts") / FOLDER / "statement.pdf")  # kept, to look at
        printed = " ".join(p.extract_text() for p in PdfReader(pdf_download.value.path()).pages)
        printed = re.sub(r"\s+", " ", printed.replace("\u00a0", " "))
        assert "Иванов Пётр" in printed and "квитанция № КО-77" in printed and "+5 000 ₸" in printed
        with page.expect_download() as xlsx_download:
            page.get_by_role("link", name="XLSX").click()
        rows = list(load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active.values)
        top_up_row = next(r for r in rows if r[2] and "КО-77" in str(r[2]))
        assert top_up_row[1] == "Пополнение" and top_up_row[3] == 5000 and top_up_row[4] == 4100

        # A correction: the canteen charged 100 tenge too much yesterday.
        page.get_by_role("link", name="Корректировка баланса").click()
        page.get_by_label("Сумма, ₸").fill("100")
        page.get_by_label("Причина").fill("лишнее списание в столовой")
        _checked(page, "07-correction")
        page.get_by_role("button", name="Продолжить").click()
        page.get_by_role("button", name="Записать корректировку").click()
        page.wait_for_url("**done=correction_recorded")
        assert _balance_now(page) == "4 200 ₸"
        assert "лишнее списание в столовой" in page.locator("table.statement").inner_text()

        # Whom to call: Әлия has 300 tenge left; her mother's phone is on the roster.
        page.get_by_role("link", name="Деньги", exact=True).click()
        page.get_by_role("link", name="Низкий баланс: кому позвонить").click()
        _checked(page, "08-low")
        low = page.locator("table.list").inner_text().replace("\u00a0", " ")
        assert "Нұрланова Әлия" in low and "300 ₸" in low and "+77012345678" in low and "Иванов" not in low

        # The same list in Kazakh, as a Kazakh-speaking secretary reads it.
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_url("**/money/low*")
        assert "Кімге қоңырау шалу керек" in page.locator("table.list").inner_text()
        _checked(page, "09-low-kk")
