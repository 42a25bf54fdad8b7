"""Outside systems in the office, in a real browser (headless Chromium through Playwright).

A region's education authority registers an e-diary (a form that says what is wrong beside each
field), copies its secret from the page that says it is shown once, watches the system's requests
and refusals on its page, makes a new secret (the old one keeps working), and revokes the system
after checking what that means. The same registration works with scripts off. Every page is kept as a
screenshot at 1280×800 and 768×1024 in test-artifacts/office-integrations/, checked by axe-core, and
must not scroll sideways at 768 px.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import insert

from cloud_api.app import create_app
from cloud_api.db.schema import schools
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in, screenshot
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import GOOD, HEADER

FOLDER = "office-integrations"
PASSWORD = "correct horse battery"
REGION = "akimat@almaty.kz"


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
            conn.execute(
                insert(schools),
                [
                    {"school_id": "s1", "name": "Школа-гимназия № 1", "region_id": "almaty"},
                    {"school_id": "s2", "name": "Школа-лицей № 2", "region_id": "almaty"},
                ],
            )
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
            account = create_account(conn, REGION, actor=SYSTEM, password=PASSWORD)
            grant_role(conn, account.id, Role.REGION, "almaty", actor=SYSTEM)
            secret = begin_totp(conn, account.id, REGION, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id=None)
        yield Cloud(server.url, app, secret)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _token(url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
    )


def test_a_region_registers_an_e_diary_rotates_its_secret_and_revokes_it(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, REGION, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/regions/almaty/schools")
        page.get_by_role("link", name="Внешние системы").first.click()
        page.wait_for_url("**/office/regions/almaty/integrations")
        _checked(page, "01-list-empty")
        page.get_by_role("link", name="Зарегистрировать систему").click()
        page.get_by_role("button", name="Зарегистрировать систему").click()  # nothing filled in
        summary = page.locator("#error-summary")
        assert summary.is_visible() and "Укажите название системы" in summary.inner_text()
        _checked(page, "02-form-errors")
        page.get_by_label("Название системы").fill("Kundelik")
        page.get_by_label("Видеть, когда ученики приходят в школу и уходят").check()
        page.get_by_label("Видеть список учеников: имя и класс").check()
        page.get_by_label("Только некоторые школы").fill("s1")
        page.get_by_label("Запросов в минуту").fill("120")
        _checked(page, "03-form-filled")
        page.get_by_role("button", name="Зарегистрировать систему").click()
        assert "Скопируйте секретный ключ сейчас: он показывается только один раз" in page.content()
        client_id, secret = page.locator("#client-id").inner_text(), page.locator("#secret").inner_text()
        _checked(page, "04-secret-shown-once")

        # The e-diary takes a token, reads the roster, and asks for what it may not read.
        bearer = {"Authorization": f"Bearer {_token(cloud.url, client_id, secret).json()['access_token']}"}
        roster = httpx.get(f"{cloud.url}/v1/integrations/schools/s1/roster", headers=bearer, timeout=10)
        assert roster.status_code == 200 and len(roster.json()["students"]) == 2
        meals = httpx.get(f"{cloud.url}/v1/integrations/schools/s1/meals?date=2026-11-20", headers=bearer, timeout=10)
        assert meals.status_code == 403
        elsewhere = httpx.get(f"{cloud.url}/v1/integrations/schools/s2/roster", headers=bearer, timeout=10)
        assert elsewhere.status_code == 403

        page.get_by_role("link", name="Ключ скопирован: перейти на страницу системы").click()
        text = page.content()
        assert secret not in text and "Школа-гимназия № 1" in text
        assert (
            "Отказано: нет разрешения на эти данные" in text
            and "Отказано: школа, данные которой ей не разрешены" in text
        )
        _checked(page, "05-detail-with-requests")

        page.get_by_role("link", name="Создать новый секретный ключ").click()
        assert "24 часа" in page.content()
        _checked(page, "06-rotate-check")
        page.get_by_role("button", name="Создать новый секретный ключ").click()
        new_secret = page.locator("#secret").inner_text()
        assert new_secret != secret and "Прежний секретный ключ работает до" in page.content()
        _checked(page, "07-new-secret")
        assert _token(cloud.url, client_id, secret).status_code == 200  # the overlap
        assert _token(cloud.url, client_id, new_secret).status_code == 200

        page.get_by_role("link", name="Ключ скопирован: перейти на страницу системы").click()
        page.get_by_role("link", name="Отключить систему").click()
        assert "Проверьте, прежде чем подтвердить" in page.content() and "Это нельзя отменить" in page.content()
        _checked(page, "08-revoke-check")
        page.get_by_role("button", name="Отключить систему").click()
        assert "Система отключена" in page.locator(".flash").inner_text()
        _checked(page, "09-revoked")
        assert (
            httpx.get(f"{cloud.url}/v1/integrations/schools/s1/roster", headers=bearer, timeout=10).status_code == 401
        )
        assert _token(cloud.url, client_id, new_secret).status_code == 401
        page.get_by_role("link", name="Қазақша").click()  # the same page in the state language
        text = page.content()
        assert "Сыртқы жүйелер" in text and "Соңғы сұраулар" in text and "өшірілді" in text
        assert "Ескі құпия кілт" not in text  # a revoked system has no secret that works
        _checked(page, "10-revoked-kk")


def test_a_system_is_registered_with_scripts_off(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024, javascript=False) as page:
        office_sign_in(page, cloud.url, REGION, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/regions/almaty/integrations/new")
        page.get_by_label("Название системы").fill("Turnstile vendor")
        page.get_by_label("Видеть, когда ученики приходят в школу и уходят").check()
        page.get_by_role("button", name="Зарегистрировать систему").click()
        assert "только один раз" in page.content()
        assert (
            _token(cloud.url, page.locator("#client-id").inner_text(), page.locator("#secret").inner_text()).status_code
            == 200
        )
        screenshot(page, FOLDER, "11-no-script-secret")
