"""The fleet pages in a real browser (headless Chromium through Playwright), in Russian and Kazakh.

The school's administrator (its IT contact) opens the school's gateway and readers from the office's
start page and reads, in words, that a reader is offline and what to check; the region's specialist
finds the school whose gateway is silent at the top of the region's list and opens the other school's
page from it. Every page is kept as a screenshot at 1280×800 and 768×1024 in test-artifacts/office-fleet/,
checked by axe-core, and must not scroll sideways at 768 px.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import insert

from cloud_api.app import create_app
from cloud_api.db.schema import schools
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.gateway_health import store_heartbeat
from cloud_api.services.gateways import GatewayRecord, register_gateway
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.services.signatures import SignedBody
from cloud_api.settings import CloudSettings
from shared.contract import Heartbeat
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, KEY2

FOLDER = "office-fleet"
PASSWORD = "correct horse battery"
STAFF = {"it@school1.kz": (Role.SCHOOL_ADMIN, "s1"), "akimat@almaty.kz": (Role.REGION, "almaty")}


@dataclass
class Cloud:
    url: str
    secrets: dict[str, str]


def _beat(conn: Any, school: str, gateway: str, key: str, at: datetime, n: int, **fields: Any) -> None:
    example = dict(Heartbeat.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    beat = Heartbeat.model_validate({**example, "gateway_id": gateway, "sent_at": at.isoformat(), **fields})
    signed = SignedBody(GatewayRecord(gateway, school, key.encode()), b"{}", "0", f"{gateway}-{n}")
    store_heartbeat(conn, signed, gateway, beat, at)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """s1's gateway a day of heartbeats (its canteen reader offline for the last twenty minutes, a
    gap in the night), s2's last heard from two hours ago with its disk nearly full."""
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        secrets = {}
        with app.state.engine.begin() as conn:
            conn.execute(
                insert(schools),
                [
                    {"school_id": "s1", "name": "Школа-гимназия № 1", "region_id": "almaty"},
                    {"school_id": "s2", "name": "Школа-лицей № 2", "region_id": "almaty"},
                ],
            )
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY2)
            for minutes in range(24 * 60, 0, -5):  # every five minutes, to keep the fixture quick
                if 16 * 60 < minutes < 18 * 60:
                    continue  # the night the school's Internet was down
                parts = {
                    "link:turnstile-1": "ok",
                    "link:canteen-1": "offline" if minutes <= 20 else "ok",
                    "forwarder": "ok",
                    "roster_sync": "ok",
                    "pages": "ok",
                }
                _beat(conn, "s1", "gw1", KEY, now - timedelta(minutes=minutes), minutes, parts=parts, outbox_pending=3)
            _beat(
                conn,
                "s2",
                "gw2",
                KEY2,
                now - timedelta(hours=2),
                0,
                disk_free_ratio=0.08,
                disk_free_bytes=4_100_000_000,
            )
            for login, (role, scope) in STAFF.items():
                account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
                secrets[login] = begin_totp(conn, account.id, login, now).secret
                confirm_totp(conn, account.id, pyotp.TOTP(secrets[login]).now(), now, actor=SYSTEM, school_id=None)
        yield Cloud(server.url, secrets)


def _sign_in(page: Any, cloud: Cloud, login: str) -> None:
    office_sign_in(page, cloud.url, login, PASSWORD, cloud.secrets[login])


def test_the_school_reads_its_gateway_and_readers_in_russian_and_kazakh(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        _sign_in(page, cloud, "it@school1.kz")
        page.get_by_role("link", name="Шлюз и считыватели").first.click()
        page.wait_for_url("**/office/schools/s1/fleet")
        text = page.content()
        assert "Считыватель не в сети" in text and "Проверьте кабель и питание считывателя." in text
        assert "canteen-1" in text and "Связь за последние 24 часа" in text
        office_page_checked(page, FOLDER, "01-school-ru")
        page.get_by_text("По часам").click()  # the hour-by-hour table opens without a script
        assert page.get_by_role("cell", name="Нет связи").count() >= 1  # the night without Internet
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_url("**/office/schools/s1/fleet")
        assert "Карта оқығыш желіден тыс" in page.content()
        office_page_checked(page, FOLDER, "02-school-kk")


def test_the_region_finds_the_silent_gateway_first_in_russian_and_kazakh(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        _sign_in(page, cloud, "akimat@almaty.kz")
        page.get_by_role("link", name="Шлюзы школ региона").first.click()
        page.wait_for_url("**/office/regions/almaty/fleet")
        rows = page.locator("table.fleet-list tbody tr")
        assert "Школа-лицей № 2" in rows.nth(0).inner_text() and "Нет связи" in rows.nth(0).inner_text()
        assert "2 часа назад" in rows.nth(0).inner_text()
        office_page_checked(page, FOLDER, "03-region-ru")
        page.get_by_role("link", name="Школа-гимназия № 1").click()
        page.wait_for_url("**/office/regions/almaty/fleet/s1")
        assert "Считыватель не в сети" in page.content()
        office_page_checked(page, FOLDER, "04-region-school-ru")
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_url("**/office/regions/almaty/fleet/s1")
        page.get_by_role("link", name="Барлық шлюздер").click()
        page.wait_for_url("**/office/regions/almaty/fleet")
        assert "Байланыс жоқ" in page.content() and "Диск толуға жақын" in page.content()
        office_page_checked(page, FOLDER, "05-region-kk")
