"""The parent app in a real browser (headless Debian Chromium through Playwright): sign in, see a child's
day, set a ban, rate a meal, and the service worker showing a push. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import bans_of
from cloud_api.services.roster_import import import_roster
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER
from tests.cloud_api.test_push import earlier_today
from tests.conftest import need

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "parent-app"
PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Cloud:
    url: str
    app: object
    child: str


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    from cloud_api.services.gateways import register_gateway

    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        engine = app.state.engine
        with engine.begin() as conn:
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
            who = {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}
            account = create_account(
                conn, "+77012345678", actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=who[MOTHER]
            )
            grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
            set_consent(conn, "s1", who[CHILD], who[MOTHER], True, actor="mother")
            register_gateway(conn, "gw1", "s1", KEY)
        child = str(who[CHILD])
        lunch = {"period": "lunch", "category": "free", "dishes": ["Палау", "Нан"], "price_tiyn": 0}
        body = batch_body(
            [
                event(1, person_id=child, reason="on_roster", at=earlier_today(240)),
                event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(60)),
            ]
        )
        import httpx

        assert httpx.post(f"{server.url}/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200
        yield Cloud(server.url, app, child)


def test_a_parent_in_the_browser(cloud: Cloud) -> None:
    need(CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(locale="ru-RU", viewport={"width": 412, "height": 900})
        context.grant_permissions(["notifications"], origin=cloud.url)
        page = context.new_page()
        page.goto(f"{cloud.url}/app/sign-in?lang=ru")
        page.fill("input[name=login]", "8 701 234 56 78")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{cloud.url}/app/")
        assert "Әлия" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "1-home.png"), full_page=True)

        page.click(f"a[href='/app/children/{cloud.child}']")
        day = page.inner_text("section.card >> nth=0")
        assert "Вход в школу" in day and "Палау, Нан" in day
        page.check("input[name=allergen][value=milk]")
        page.click("form.bans button")
        page.wait_for_selector("p.ok")
        assert page.is_checked("input[name=allergen][value=milk]")
        page.check("input[name=stars][value='5']")
        page.fill("textarea[name=comment]", "Палау өте дәмді")
        page.click("form.rating button")
        page.wait_for_selector("p.ok")
        page.screenshot(path=str(ARTIFACTS / "2-child.png"), full_page=True)

        # A mistyped link (month 13) shows the app's own error page with the way back, not a 500.
        page.goto(f"{cloud.url}/app/children/{cloud.child}?month=2026-13")
        assert page.inner_text("h1") == "Что-то пошло не так" and "В адресе страницы ошибка" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "2-error.png"), full_page=True)
        page.click("text=На главную страницу")
        page.wait_for_url(f"{cloud.url}/app/")

        # The service worker, registered by the page's script, shows a push as the phone would.
        page.goto(f"{cloud.url}/app/settings")
        page.evaluate("navigator.serviceWorker.ready")
        cdp = context.new_cdp_session(page)
        registrations: list[str] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda e: registrations.extend(r["registrationId"] for r in e["registrations"]),
        )
        cdp.send("ServiceWorker.enable")
        page.wait_for_timeout(200)
        assert registrations, "the service worker did not register"
        notice = {
            "title": "Mektep Gate",
            "body": "Әлия: вход в школу, 05.12.2026, 08:00",
            "tag": "x:entry",
            "late": False,
        }
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": cloud.url, "registrationId": registrations[0], "data": json.dumps(notice)},
        )
        # A predicate that returns a promise counts as truthy at once (the promise is an object), so
        # the first poll won whenever the notice was not shown yet. Each poll now asks for the shown
        # notifications and answers from what the poll before it found.
        shown = page.wait_for_function(
            "() => { navigator.serviceWorker.ready.then(r => r.getNotifications())"
            ".then(ns => { window.shown = ns.map(n => [n.title, n.body]); });"
            " return window.shown && window.shown.length ? window.shown : null; }"
        ).json_value()
        assert shown == [["Mektep Gate", "Әлия: вход в школу, 05.12.2026, 08:00"]]
        page.screenshot(path=str(ARTIFACTS / "3-settings.png"), full_page=True)
        browser.close()
    with cloud.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        assert [str(v) for v in bans_of(conn, "s1").values()] == ["['milk']"]
