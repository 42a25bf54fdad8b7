"""The alerts in the office, in a real browser (headless Chromium through Playwright).

The school's IT contact (password and authenticator code) reads the school's alerts, the open one
first, and acknowledges it with the page's form (their login and the time are shown after); the
region's IT reads the alerts of every school of the region. Each page is kept as a screenshot at
1280×800 and 768×1024 in test-artifacts/office-alerts/, checked by axe-core, and must not scroll
sideways at 768 px. A form posted from another site is refused.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import insert, select

from cloud_api.app import create_app
from cloud_api.db.schema import alerts, schools
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN

FOLDER = "office-alerts"
PASSWORD = "correct horse battery"
STAFF = {"it@s1.kz": (Role.SCHOOL_IT, "s1"), "it@almaty.kz": (Role.REGION_IT, "almaty")}


@dataclass
class Cloud:
    url: str
    app: Any
    secrets: dict[str, str]


def _alert(school: str, rule: str, subject: str, state: str, opened: datetime, **more: Any) -> dict[str, Any]:
    row = {"school_id": school, "id": uuid.uuid4(), "rule": rule, "subject": subject, "gateway_id": subject[:3]}
    # Every row names every column: one insert of many rows takes the first row's columns.
    return {**row, "state": state, "since": opened, "opened_at": opened, "value": 0.08, "resolved_at": None, **more}


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
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
            conn.execute(
                insert(alerts),
                [
                    _alert("s1", "disk_low", "gw1", "open", now - timedelta(minutes=12)),
                    _alert(
                        "s1",
                        "reader_offline",
                        "gw1/turnstile-1",
                        "resolved",
                        now - timedelta(hours=3),
                        resolved_at=now - timedelta(hours=2),
                    ),
                    _alert("s2", "gateway_silent", "gw2", "open", now - timedelta(minutes=40)),
                ],
            )
            for login, (role, scope) in STAFF.items():
                account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
                secrets[login] = begin_totp(conn, account.id, login, now).secret
                confirm_totp(conn, account.id, pyotp.TOTP(secrets[login]).now(), now, actor=SYSTEM, school_id=None)
        yield Cloud(server.url, app, secrets)


def test_the_schools_it_acknowledges_an_alert_and_the_region_sees_its_schools(cloud: Cloud) -> None:
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024) as page:
        office_sign_in(page, cloud.url, "it@s1.kz", PASSWORD, cloud.secrets["it@s1.kz"])
        page.get_by_role("link", name="Тревоги").click()
        page.wait_for_url("**/office/schools/s1/alerts")
        rows = page.locator("table.alerts tbody tr")
        assert rows.count() == 2
        assert "Диск шлюза школы почти заполнен" in rows.nth(0).inner_text()  # the open one first
        assert "закончилась" in rows.nth(1).inner_text()
        assert "Открыта 1 тревога." in page.inner_text("main")
        office_page_checked(page, FOLDER, "school-open")
        page.get_by_role("button", name=re.compile("^Подтвердить .Диск")).click()
        page.wait_for_url("**/office/schools/s1/alerts?done=alert_acknowledged")
        assert "Тревога подтверждена." in page.inner_text("main")
        assert "it@s1.kz" in rows.nth(0).inner_text()
        office_page_checked(page, FOLDER, "school-acknowledged")
        # Another school's page is not theirs.
        assert page.goto(f"{cloud.url}/office/schools/s2/alerts").status == 403  # type: ignore[union-attr]
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with cloud.app.state.engine.connect() as conn:
        (open_id,) = conn.execute(select(alerts.c.id).where(alerts.c.school_id == "s2")).scalars()
    refused = httpx.post(
        f"{cloud.url}/office/regions/almaty/alerts/s2/{open_id}/acknowledge",
        cookies=cookies,
        headers={"Origin": "https://elsewhere.example"},
    )
    assert refused.status_code == 403
    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024) as page:
        office_sign_in(page, cloud.url, "it@almaty.kz", PASSWORD, cloud.secrets["it@almaty.kz"])
        page.get_by_role("link", name="Тревоги региона").click()
        page.wait_for_url("**/office/regions/almaty/alerts")
        text = page.inner_text("table.alerts")
        assert "Школа-лицей № 2" in text and "Школа-гимназия № 1" in text
        assert "Шлюз школы молчит" in text
        office_page_checked(page, FOLDER, "region")
    with cloud.app.state.engine.connect() as conn:
        acknowledged = conn.execute(select(alerts.c.school_id).where(alerts.c.acknowledged_at.is_not(None))).all()
    assert [r.school_id for r in acknowledged] == ["s1"]  # the foreign form changed nothing
