"""A client's webhooks in a real browser (headless Chromium through Playwright), in Russian and Kazakh.

The region's administrator subscribes an e-diary to a school's entries and exits, copies the secret
shown once, reads why a subscription is paused (its receiver answered 503 for a day), and resumes it;
the page works without JavaScript too. Every page is kept as a screenshot at 1280×800 and 768×1024
in test-artifacts/office-webhooks/, checked by axe-core, and must not scroll sideways at 768 px.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pyotp
import pytest
from sqlalchemy import insert, update

from cloud_api.app import create_app
from cloud_api.db.schema import schools, webhook_subscriptions
from cloud_api.integrations.clients import create_client
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import subscribe
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in, screenshot
from tests.cloud_api.helpers import ADMIN

FOLDER = "office-webhooks"
PASSWORD = "correct horse battery"
LOGIN = "akimat@almaty.kz"


@dataclass
class Cloud:
    url: str
    secret: str
    client_id: str


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """Two schools of almaty, an e-diary of the region, one of its subscriptions paused after a day of 503s."""
    settings = CloudSettings(
        database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0, webhooks_enabled=False
    )
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
            client, _ = create_client(
                conn,
                name="Kundelik",
                actor=SYSTEM,
                now=now,
                scopes=["attendance:read", "meals:read"],
                region_id="almaty",
            )
            sub, _ = subscribe(
                conn,
                client_id=client.client_id,
                school_id="s2",
                url="https://kundelik.example/hooks/mektep",
                kinds=["entry", "exit", "meal"],
                actor=SYSTEM,
                now=now - timedelta(days=3),
                policy=ReceiverPolicy(development=True, resolve=lambda host, port: ["93.184.215.14"]),
            )
            _paused(conn, sub.id, now)
            account = create_account(conn, LOGIN, actor=SYSTEM, password=PASSWORD)
            grant_role(conn, account.id, Role.REGION, "almaty", actor=SYSTEM)
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id=None)
        yield Cloud(server.url, secret, client.client_id)


def _paused(conn: Any, sub_id: UUID, now: datetime) -> None:
    # As the worker leaves it after a day of 503s (its own tests show it does).
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == sub_id)
        .values(
            state="paused",
            paused_reason="http_503",
            paused_at=now - timedelta(hours=1),
            paused_by="worker",
            failures=290,
            failing_since=now - timedelta(hours=25),
            last_error="http_503",
            last_delivered_at=now - timedelta(hours=25, minutes=3),
        )
    )


def test_the_region_subscribes_an_e_diary_and_resumes_a_paused_subscription(cloud: Cloud) -> None:
    page_url = f"{cloud.url}/office/integrations/{cloud.client_id}/webhooks"
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(page_url)
        text = page.content()
        assert "Вебхуки системы «Kundelik»" in text
        assert "приостановлена" in text and "Получатель ответил HTTP 503." in text
        office_page_checked(page, FOLDER, "01-paused-ru")

        page.get_by_label("Школа", exact=True).select_option("s1")
        page.get_by_label("Адрес получателя").fill("http://localhost:9/hook")  # development: loopback allowed
        page.get_by_label("Входы").check()
        page.get_by_role("button", name="Подписать").click()
        assert "больше не будет показан" in page.content()
        assert page.locator("code.secret").inner_text().startswith("whsec_")
        office_page_checked(page, FOLDER, "02-secret-ru")

        page.get_by_role("button", name="Возобновить").click()
        page.wait_for_url("**/webhooks?done=webhook_resumed")
        assert "Подписка возобновлена" in page.content()
        page.get_by_role("link", name="Қазақша").click()
        page.wait_for_url("**/webhooks*")
        assert "«Kundelik» жүйесінің вебхуктары" in page.content()
        office_page_checked(page, FOLDER, "03-resumed-kk")
        page.get_by_role("link", name="Русский").click()
        signed_in = page.context.cookies()  # a code works once: the same session, without scripts

    with chromium_page(cloud.url, locale="ru-RU", width=768, height=1024, javascript=False) as page:
        page.context.add_cookies(signed_in)
        page.goto(page_url)
        page.get_by_role("link", name="Удалить").first.click()
        assert "Удалить подписку?" in page.content()
        page.get_by_role("button", name="Удалить подписку").click()
        page.wait_for_url("**/webhooks?done=webhook_removed")
        assert "Подписка удалена." in page.content()
        # Without JavaScript axe cannot run in the page: kept as a screenshot, checked for sideways scroll.
        screenshot(page, FOLDER, "04-removed-ru-no-script-768")
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
