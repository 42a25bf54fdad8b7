"""A school's administrator signs in at the office in a real browser (headless Chromium through Playwright):
the first sign-in sets up the authenticator app from the QR code on the page, later ones ask for its code, a
code used once is refused, and a recovery code signs in when the phone is lost. Every page is checked by
axe-core and kept as a screenshot in test-artifacts/staff-sign-in/."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from cloud_api.app import create_app
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN

FOLDER = "staff-sign-in"
LOGIN = "head@s1.kz"
PASSWORD = "correct horse battery"


@dataclass
class Cloud:
    url: str
    app: Any


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        with app.state.engine.begin() as conn:
            create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
        yield Cloud(server.url, app)


def _checked(page: object, name: str) -> None:
    screenshot(page, FOLDER, name)
    assert accessibility_problems(page) == [], name


def _read_qr(page: object) -> str:
    import zxingcpp
    from PIL import Image

    png = page.locator("img.qr").screenshot()  # type: ignore[attr-defined]
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "the QR code on the page could not be read"
    return str(found[0].text)


def _sign_in(page: object, url: str) -> None:
    page.goto(f"{url}/office/sign-in?lang=ru")  # type: ignore[attr-defined]
    page.get_by_label("Телефон или e-mail").fill(LOGIN)  # type: ignore[attr-defined]
    page.get_by_label("Пароль").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Войти", exact=True).click()  # type: ignore[attr-defined]


def test_a_head_teacher_sets_up_the_app_and_signs_in_with_its_codes(cloud: Cloud) -> None:
    with chromium_page(cloud.url, width=768, height=1000) as page:
        page.goto(f"{cloud.url}/office/sign-in?lang=ru")
        _checked(page, "1-sign-in")
        _sign_in(page, cloud.url)

        # The first sign-in: the password was right, and the page asks to set up the app.
        page.wait_for_url("**/office/sign-in/enrol")
        _checked(page, "2-enrol")
        uri = _read_qr(page)
        assert uri.startswith("otpauth://totp/Mektep%20Gate:head%40s1.kz?")
        app = pyotp.parse_uri(uri)
        assert page.locator("code.secret").inner_text() == app.secret  # the key to type, if the QR won't scan
        first = app.now()
        page.get_by_label("Введите 6 цифр").fill(first)
        page.get_by_role("button", name="Подтвердить").click()

        # Ten recovery codes, shown once; then the office.
        codes = page.locator("ul.codes code").all_inner_texts()
        assert len(codes) == 10 and len(set(codes)) == 10
        _checked(page, "3-recovery-codes")
        page.get_by_role("link", name="Коды сохранены").click()
        page.wait_for_url("**/office/")
        assert "Вы вошли как head@s1.kz." in page.content()
        _checked(page, "4-office")
        page.get_by_role("button", name="Выйти", exact=True).click()
        page.wait_for_url("**/office/sign-in")

        # Later: the password, then the app's code. The code already used is refused ...
        _sign_in(page, cloud.url)
        page.wait_for_url("**/office/sign-in/code")
        _checked(page, "5-code")
        page.get_by_label("Код из приложения-аутентификатора").fill(first)
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/office/sign-in/code?failed=second_factor_failed")
        assert "Код неверен или уже использован" in page.content()
        _checked(page, "6-code-reused")
        # ... and the next one signs in.
        page.get_by_label("Код из приложения-аутентификатора").fill(app.at(time.time() + 30))
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/office/")
        page.get_by_role("button", name="Выйти", exact=True).click()

        # The phone is lost: a recovery code signs in, once.
        _sign_in(page, cloud.url)
        page.wait_for_url("**/office/sign-in/code")
        page.get_by_label("Код из приложения-аутентификатора").fill(codes[0])
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/office/")
        page.goto(f"{cloud.url}/office/account")
        assert "Осталось 9 резервных кодов" in page.content()
        assert "это устройство" in page.content()  # the sessions list knows this browser
        _checked(page, "7-account")
        page.get_by_role("button", name="Выйти", exact=True).click()
        _sign_in(page, cloud.url)
        page.wait_for_url("**/office/sign-in/code")
        page.get_by_label("Код из приложения-аутентификатора").fill(codes[0])
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/office/sign-in/code?failed=second_factor_failed")


def test_the_office_is_usable_on_a_phone(cloud: Cloud) -> None:
    with chromium_page(cloud.url, width=360, height=740) as page:
        page.goto(f"{cloud.url}/office/sign-in?lang=kk")
        screenshot(page, FOLDER, "8-sign-in-360-kk")
        assert accessibility_problems(page) == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360  # nothing runs off the side of a small phone


def test_a_parent_turns_on_the_second_factor_and_changes_the_password(cloud: Cloud, tmp_path: Path) -> None:
    from sqlalchemy import select

    from cloud_api.db.schema import iin_indexes, people
    from cloud_api.roster.nedb import parse_rows
    from cloud_api.services.accounts import Role, create_account, grant_role
    from cloud_api.services.roster_import import import_roster
    from tests.cloud_api.school import GOOD, HEADER, MOTHER

    engine = cloud.app.state.engine
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
        mother = conn.execute(select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, MOTHER)))).scalar_one()
        account = create_account(
            conn, "+77012345678", actor=SYSTEM, password="мой пароль", school_id="s1", person_id=mother
        )
        grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)

    def sign_in(password: str) -> None:
        page.goto(f"{cloud.url}/app/sign-in?lang=ru")
        page.get_by_label("Телефон или e-mail").fill("8 701 234 56 78")
        page.get_by_label("Пароль").fill(password)
        page.get_by_role("button", name="Войти", exact=True).click()

    with chromium_page(cloud.url, width=360, height=800) as page:
        sign_in("мой пароль")
        page.wait_for_url("**/app/")  # no second factor yet: the password is enough
        page.goto(f"{cloud.url}/app/account")
        _checked(page, "9-parent-account")
        page.get_by_role("button", name="Включить").click()
        app = pyotp.parse_uri(_read_qr(page))
        _checked(page, "10-parent-enrol")
        page.get_by_label("Введите 6 цифр").fill(app.now())
        page.get_by_role("button", name="Подтвердить").click()
        page.get_by_role("link", name="Коды сохранены").click()
        assert "Второй фактор включён" in page.content()

        # A weak new password is refused with the reason; a wrong old one too.
        page.get_by_label("Текущий пароль").fill("мой пароль")
        page.get_by_label("Новый пароль").fill("qwertyuiop")
        page.get_by_role("button", name="Сменить пароль").click()
        assert "Этот пароль слишком легко угадать" in page.content()
        _checked(page, "11-parent-weak-password")
        page.get_by_label("Текущий пароль").fill("не тот пароль")
        page.get_by_label("Новый пароль").fill("жёлтый трамвай на закате")
        page.get_by_role("button", name="Сменить пароль").click()
        assert "Текущий пароль неверен" in page.content()
        page.get_by_label("Текущий пароль").fill("мой пароль")
        page.get_by_label("Новый пароль").fill("жёлтый трамвай на закате")
        page.get_by_role("button", name="Сменить пароль").click()

        # Every session ended: sign in again, with the new password and the app's code.
        page.wait_for_url("**/app/sign-in")
        sign_in("жёлтый трамвай на закате")
        page.wait_for_url("**/app/sign-in/code")
        page.get_by_label("Код из приложения-аутентификатора").fill(app.at(time.time() + 30))
        page.get_by_role("button", name="Подтвердить").click()
        page.wait_for_url("**/app/")


def test_the_school_prints_activation_letters_and_a_parent_activates_from_the_qr(cloud: Cloud) -> None:
    from cloud_api.roster.nedb import parse_rows
    from cloud_api.services.roster_import import import_roster
    from tests.cloud_api.school import GOOD, HEADER, iin

    child = iin("12050150018")
    aunt = ["guardian", iin("90010140011"), "Омарова", "Айгүл", "", "ru", "", "", "", "aigul@mail.kz", child]
    with cloud.app.state.engine.begin() as conn:
        rows = [*GOOD, ["student", child, "Омаров", "Тимур", "5А", "ru", "", "", "", "", ""], aunt]
        import_roster(conn, "s1", parse_rows([HEADER, *rows]), actor="admin")

    with chromium_page(cloud.url, width=768, height=1000) as page:
        _sign_in(page, cloud.url)
        page.wait_for_url("**/office/sign-in/enrol")
        page.get_by_label("Введите 6 цифр").fill(pyotp.parse_uri(_read_qr(page)).now())
        page.get_by_role("button", name="Подтвердить").click()
        page.get_by_role("link", name="Коды сохранены").click()
        page.get_by_role("link", name="Учётные записи", exact=True).first.click()
        page.get_by_role("button", name="Создать учётные записи и распечатать письма").click()
        letters = page.locator("article.letter")
        assert letters.count() == 2  # the mother (a phone) and the aunt (an e-mail); the children have no contacts
        _checked(page, "12-letters")
        letter = letters.filter(has_text="Омарова Айгүл")
        code = letter.locator("code.big").inner_text()
        png = letter.locator("img.qr").screenshot()
        import zxingcpp
        from PIL import Image

        link = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text
        assert link.startswith(f"{cloud.url}/app/activate?a=") and f"c={code}" in link

    with chromium_page(cloud.url, width=360, height=740) as phone:
        phone.goto(link)
        _checked(phone, "13-activate")
        phone.get_by_label("Новый пароль").fill("осенний лист кружится")
        phone.get_by_role("button", name="Сохранить пароль").click()
        phone.wait_for_url("**/app/sign-in?done=password_set")
        assert "Пароль сохранён" in phone.content()
        phone.get_by_label("Телефон или e-mail").fill("aigul@mail.kz")
        phone.get_by_label("Пароль").fill("осенний лист кружится")
        phone.get_by_role("button", name="Войти", exact=True).click()
        phone.wait_for_url("**/app/")


def test_a_head_teacher_signs_in_with_a_passkey(cloud: Cloud) -> None:
    # WebAuthn takes a host name, never an IP address: the browser goes to localhost.
    url = cloud.url.replace("127.0.0.1", "localhost")
    with chromium_page(url, width=768, height=1000) as page:
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )
        _sign_in(page, url)
        page.wait_for_url("**/office/sign-in/enrol")
        app = pyotp.parse_uri(_read_qr(page))
        page.get_by_label("Введите 6 цифр").fill(app.now())
        page.get_by_role("button", name="Подтвердить").click()
        page.get_by_role("link", name="Коды сохранены").click()
        page.goto(f"{url}/office/account")
        page.get_by_label("Название этого устройства").fill("Ноутбук в кабинете")
        page.get_by_role("button", name="Добавить ключ доступа").click()
        page.wait_for_url("**/office/account?saved=passkey_added")
        assert "Ноутбук в кабинете" in page.content()
        _checked(page, "14-passkey-added")
        page.get_by_role("button", name="Выйти", exact=True).click()

        # The passkey alone signs in: no password, no code.
        page.wait_for_url("**/office/sign-in")
        page.get_by_role("button", name="Войти с ключом доступа").click()
        page.wait_for_url("**/office/")
        page.goto(f"{url}/office/account")
        assert "ключ доступа" in page.content().lower()
        page.get_by_role("button", name="Выйти", exact=True).click()

        # After the password, the passkey stands in for the app's code.
        _sign_in(page, url)
        page.wait_for_url("**/office/sign-in/code")
        page.get_by_role("button", name="Использовать ключ доступа").click()
        page.wait_for_url("**/office/")
