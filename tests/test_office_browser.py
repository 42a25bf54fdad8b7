"""A school secretary runs the school from the office in a real browser (headless Chromium through Playwright).

She signs in with her authenticator's code, imports the NEDB roster with two bad rows (sees the
preview, fixes nothing, imports the good rows), finds a pupil, gives a card by tapping it on the
desk reader (the reader types into the focused field and presses Enter), records a consent signed
on paper, prints the activation letters of a class (one letter a sheet, checked in the PDF), blocks
a lost card and gives a new one, and reads the journal of that pupil. Every page is kept as a
screenshot at 1280×800 and 768×1024 in test-artifacts/office/, checked by axe-core, and must not
scroll sideways at 768 px.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import iin_indexes, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, create_school_admin, grant_role
from cloud_api.services.cards import assign_card
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.contract import CredentialKind, credential_hash
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, office_page_checked, office_sign_in, screenshot
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin

FOLDER = "office"
LOGIN = "secretary@s1.kz"
PASSWORD = "correct horse battery"
CARD_KEY = "school-card-key-shared-with-gateways"
TAKEN = "0007700770"  # the card of a pupil of the roster
BAD_IIN = CHILD[:11] + str((int(CHILD[11]) + 1) % 10)


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(
        database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        admin_token=ADMIN,
        push_workers=0,
        credential_key=CARD_KEY,
    )
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        with app.state.engine.begin() as conn:
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            child = conn.execute(
                select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, CHILD)))
            ).scalar_one()
            assign_card(
                conn, "s1", child, CredentialKind.EM4100, credential_hash(CARD_KEY.encode(), TAKEN), actor=SYSTEM
            )
            # Her authenticator app was set up at her first sign-in (tests/test_staff_sign_in.py shows how).
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
        yield Cloud(server.url, app, secret)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _roster_file(path: Path) -> Path:
    rows = [
        HEADER,
        ["student", iin("16040450015"), "Серікова", "Айша", "3Б", "kk", "", "", "+77015550012", "", ""],
        [
            "guardian",
            iin("90010150012"),
            "Серікова",
            "Гаухар",
            "",
            "kk",
            "",
            "",
            "+77015550011",
            "",
            iin("16040450015"),
        ],
        ["student", BAD_IIN, "Ахметов", "Дана", "2А", "", "", "", "", "", ""],  # a mistyped IIN
        ["student", iin("16040450023"), "Бекова", "", "2А", "", "", "", "", "", ""],  # no first name
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    return path


def test_a_secretary_runs_the_school_from_the_office(cloud: Cloud, tmp_path: Path) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        # Sign in: the password, then the code of her authenticator app.
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        _checked(page, "01-start")

        # The roster: the file is checked first; two rows are refused, nothing is stored yet.
        page.get_by_role("link", name="Загрузка списка").first.click()
        _checked(page, "02-roster")
        page.get_by_label("Файл выгрузки").set_input_files(str(_roster_file(tmp_path / "nedb-3b.csv")))
        page.get_by_role("button", name="Проверить файл").click()
        page.wait_for_url("**/roster/preview")
        refused = page.locator("section", has=page.get_by_role("heading", name="Отклонено")).locator("tbody tr")
        assert refused.count() == 2
        assert "Серікова Айша" in page.content()
        _checked(page, "03-roster-preview")
        page.get_by_role("button", name="Загрузить список", exact=True).click()
        page.wait_for_url("**/roster?done=roster_imported")
        assert "Список загружен." in page.content() and LOGIN in page.content()

        # Find the new pupil by name, and open her page.
        page.get_by_role("link", name="Люди").click()
        page.get_by_label("ФИО, ИИН или номер карты").fill("серікова айша")
        page.get_by_role("button", name="Найти").click()
        _checked(page, "04-people")
        page.get_by_role("link", name="Серікова Айша").click()

        # A card: the number field is focused, and the desk reader types the number and Enter.
        assert page.evaluate("document.activeElement.id") == "card_number"
        page.keyboard.type("0004512345\n")
        page.wait_for_url("**done=card_given**")
        assert "Карта выдана." in page.content() and "…2345" in page.content()
        _checked(page, "05-person")

        # A consent her mother signed on paper.
        page.get_by_label("Дата на документе").fill("2026-09-02")
        page.get_by_label("Номер документа").fill("№ 17/2026")
        page.get_by_role("button", name="Записать согласие").click()
        page.wait_for_url("**done=consent_recorded**")
        assert "на бумаге" in page.content()

        # The activation letters of class 3Б: one sheet each, in PDF as the printer gets it.
        page.get_by_role("link", name="Учётные записи").click()
        _checked(page, "06-accounts")
        page.get_by_label("Класс").select_option("3Б")
        page.get_by_role("button", name="Создать учётные записи и распечатать письма").click()
        letters = page.locator("article.letter").count()
        # The new pupil and her mother, and the mother of the other 3Б pupil (who has no phone of her
        # own: left out); the families of the other classes are not in it.
        assert letters == 3
        screenshot(page, FOLDER, "07-letters")
        assert accessibility_problems(page) == []
        pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
        assert len(pdf.pages) == letters
        printed = [sheet.extract_text() for sheet in pdf.pages]
        to = {re.search(r"(?:Кімге|Кому): ([^\n(]+)", sheet).group(1).strip() for sheet in printed}  # type: ignore[union-attr]
        assert to == {"Серікова Айша", "Серікова Гаухар", "Нұрланова Гүлнар"}

        # The card is lost: blocked, and a new one given in one step.
        page.goto(f"{cloud.url}/office/schools/s1/people?q=0004512345")
        page.get_by_role("link", name="Серікова Айша").click()
        page.get_by_role("link", name="Потеряна: заблокировать и выдать новую").click()
        _checked(page, "08-lost-card")
        page.keyboard.type("0004577777\n")
        page.wait_for_url("**done=card_replaced**")
        assert "…7777" in page.content()

        # Her journal: every change, in words.
        page.get_by_role("link", name="Изменения в журнале действий пользователей").click()
        journal = page.locator("main").inner_text()
        assert "Серікова Айша" in journal
        assert "заблокирована" in journal and "потеряна" in journal and "№ 17/2026" in journal
        _checked(page, "09-journal")

        # Blocking a card asks why first (she goes back without blocking it).
        page.go_back()
        page.get_by_role("link", name="Заблокировать", exact=True).click()
        _checked(page, "09b-block-card")
        page.get_by_role("link", name="Отмена").click()

        # The monthly reports are in the office too.
        page.get_by_role("link", name="Отчёты").click()
        _checked(page, "09c-reports")

        # Today and the consents at a glance.
        page.get_by_role("link", name="Сегодня").click()
        _checked(page, "10-today")
        page.get_by_role("link", name="Согласия").click()
        _checked(page, "11-consent")

        # The school takes everything it has: the archive is made in the background, then offered.
        page.get_by_role("link", name="Выгрузка").click()
        page.get_by_role("button", name="Создать архив").click()
        page.get_by_role("link", name="Скачать").wait_for(timeout=20_000)  # the page refreshes itself
        _checked(page, "15-export")
        with page.expect_download() as download:
            page.get_by_role("link", name="Скачать").click()
        assert download.value.suggested_filename.endswith(".zip")

        # The language switch keeps her on the page she was reading.
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_url("**/office/schools/s1/export")
        assert page.locator("h1").inner_text() == "Мектеп деректерін түсіру"
        page.get_by_role("link", name="Русский").click()

        # A cook's account, linked to her staff record, and the letter with her code.
        page.get_by_role("link", name="Учётные записи").click()
        page.get_by_label("E-mail или номер телефона").fill("cook@s1.kz")
        page.get_by_label("Роль", exact=True).select_option("canteen_staff")
        page.get_by_role("button", name="Создать учётную запись").click()
        assert page.locator("code.big").inner_text()
        _checked(page, "16-staff-letter")


def test_the_office_reads_in_kazakh_on_a_tablet(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="kk-KZ", width=768, height=1024) as page:
        page.goto(f"{cloud.url}/office/sign-in?lang=kk")
        page.locator("input[name=login]").fill(LOGIN)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url("**/office/sign-in/code")
        page.locator("input[name=code]").fill(pyotp.TOTP(cloud.secret).at(datetime.now(UTC), counter_offset=1))
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url("**/office/")
        page.goto(f"{cloud.url}/office/schools/s1/people/{_person(cloud, TEEN)}")
        assert page.locator("html").get_attribute("lang") == "kk"
        _checked(page, "12-person-kk")
        # A card that is already another pupil's: refused, in Kazakh, at the top and beside the field.
        page.get_by_label("Карта нөмірі").fill(TAKEN)
        page.get_by_role("button", name="Картаны беру").click()
        assert page.locator("#error-summary").is_visible()
        assert page.locator("#card_number-error").inner_text().startswith("Бұл карта")
        _checked(page, "13-form-errors-kk")
        page.goto(f"{cloud.url}/office/schools/s1/people/{_person(cloud, MOTHER)}")
        _checked(page, "14-guardian-kk")


def test_a_cook_sees_the_canteen_and_sets_her_pin(cloud: Cloud) -> None:
    with cloud.app.state.engine.begin() as conn:
        teacher = conn.execute(
            select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, TEACHER)))
        ).scalar_one()
        cook = create_account(conn, "cook@s1.kz", actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=teacher)
        grant_role(conn, cook.id, Role.CANTEEN_STAFF, "s1", actor=SYSTEM)
        now = datetime.now(UTC)
        secret = begin_totp(conn, cook.id, "cook@s1.kz", now).secret
        confirm_totp(conn, cook.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024) as page:
        page.goto(f"{cloud.url}/office/sign-in?lang=ru")
        page.get_by_label("Телефон или e-mail").fill("cook@s1.kz")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти", exact=True).click()
        page.get_by_label("Код из приложения-аутентификатора").fill(pyotp.TOTP(secret).at(now, counter_offset=1))
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/office/")
        _checked(page, "17-cook-start")
        page.get_by_role("link", name="Столовая").first.click()
        assert page.get_by_role("link", name="Люди").count() == 0  # the people are the office's, not hers
        page.get_by_label("Новый PIN-код (от 4 до 8 цифр)").fill("4821")
        page.get_by_label("Тот же PIN-код ещё раз").fill("4821")
        page.get_by_role("button", name="Сохранить PIN-код").click()
        page.wait_for_url("**done=pin_saved")
        _checked(page, "18-canteen")


def _person(cloud: Cloud, iin_: str) -> str:
    with cloud.app.state.engine.connect() as conn:
        return str(
            conn.execute(select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, iin_)))).scalar_one()
        )
