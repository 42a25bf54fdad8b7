"""The parent app on a 360 px phone in headless Chromium (issue 21): the day, the month and the menu are
there when the phone loses its connection, each with an "offline, as of HH:MM" banner, and gone once the
parent signs out; no parent page scrolls sideways, in Russian or in Kazakh. Screenshots go to
test-artifacts/parent-offline/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.gateways import register_gateway
from cloud_api.services.roster_import import import_roster
from cloud_api.settings import CloudSettings
from shared.localtime import LOCAL_TZ
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, serve_lunch_today
from tests.cloud_api.test_push import earlier_today

FOLDER = "parent-offline"
PASSWORD = "correct horse battery"
LOGIN = "8 701 234 56 78"
PAGES_CACHE = "mektep-pages-v1"


@dataclass
class Cloud:
    url: str
    child: str


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """A started cloud: a mother with a child who came to school and had lunch today, and today's menu."""
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        with app.state.engine.begin() as conn:
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
            who = {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}
            mother = who[MOTHER]
            account = create_account(conn, LOGIN, actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=mother)
            grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
            set_consent(conn, "s1", who[CHILD], who[MOTHER], True, actor="mother")
            register_gateway(conn, "gw1", "s1", KEY)
            serve_lunch_today(conn, "s1")
        child = str(who[CHILD])
        lunch = {"period": "lunch", "category": "free", "dishes": ["Палау", "Нан"], "price_tiyn": 0}
        body = batch_body(
            [
                event(1, person_id=child, reason="on_roster", at=earlier_today(240)),
                event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(60)),
                event(3, kind="exit", person_id=child, reason="on_roster", at=earlier_today(30)),
            ]
        )
        assert httpx.post(f"{server.url}/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200
        yield Cloud(server.url, child)


def _sign_in(page: Any, url: str, language: str) -> None:
    page.goto(f"{url}/app/sign-in?lang={language}")
    page.fill("input[name=login]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/app/sign-in'] button[type=submit]")
    page.wait_for_url(f"{url}/app/")


def _minute() -> datetime:
    """Now on the school's clock, to the minute (as the banner writes it)."""
    return datetime.now(UTC).astimezone(LOCAL_TZ).replace(second=0, microsecond=0)


def _banner(page: Any) -> Any:
    return page.locator("[data-offline]")


def test_the_day_month_and_menu_stay_on_the_phone_offline_until_sign_out(cloud: Cloud) -> None:
    today = datetime.now(UTC).astimezone(LOCAL_TZ)
    # Each page kept, and what on it shows it is the parent's page: (address, where, what).
    kept = {
        "day": ("/app/", "main", "Әлия"),
        "child": (f"/app/children/{cloud.child}", "ul.day", "Плов, Нан"),  # the school's plov, named in Russian
        "month": (f"/app/children/{cloud.child}?month={today:%Y-%m}", "table", f"{today:%d.%m.%Y}"),
        "menu": ("/app/menu", "main", "Плов"),
    }
    with chromium_page(cloud.url, width=360, height=780) as page:
        _sign_in(page, cloud.url, "ru")
        # The worker installs from the first page; a page loaded before it took over is not yet its.
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        assert page.evaluate("Boolean(navigator.serviceWorker.controller)"), "the worker does not control the page"

        visited: dict[str, tuple[datetime, datetime]] = {}
        for name, (path, where, seen) in kept.items():
            before = _minute()
            page.goto(cloud.url + path)
            assert seen in page.inner_text(where) and not _banner(page).is_visible(), name
            visited[name] = (before, _minute())
        screenshot(page, FOLDER, "1-menu-online-360")

        page.context.set_offline(True)
        for name, (path, where, seen) in kept.items():
            page.goto(cloud.url + path)
            banner = _banner(page)
            assert banner.is_visible() and banner.get_attribute("role") == "status", name
            text = banner.inner_text()
            as_of = re.fullmatch(r"Нет связи: страница на (\d\d:\d\d), (\d\d\.\d\d\.\d{4})", text)
            assert as_of, text
            made = datetime.strptime(f"{as_of[2]} {as_of[1]}", "%d.%m.%Y %H:%M").replace(tzinfo=LOCAL_TZ)
            assert visited[name][0] <= made <= visited[name][1], f"{name}: {text}, not when it was seen online"
            assert seen in page.inner_text(where), name
            screenshot(page, FOLDER, f"2-{name}-offline-360")
            if name == "day":  # the banner, and the sign-out button on the grey page
                assert accessibility_problems(page) == []

        # Signing out needs the network; the sign-in page it lands on keeps the language, and the kept pages go.
        page.context.set_offline(False)
        page.goto(f"{cloud.url}/app/")
        page.click("form[action='/app/sign-out'] button")
        page.wait_for_url(f"{cloud.url}/app/sign-in")
        assert page.get_attribute("html", "lang") == "ru" and page.inner_text("h1") == "Войти"
        page.wait_for_function(f"caches.keys().then(ks => !ks.includes('{PAGES_CACHE}'))")
        assert page.evaluate("caches.keys()") == ["mektep-files-v1"]
        screenshot(page, FOLDER, "3-signed-out-360")
        assert accessibility_problems(page) == []

        page.context.set_offline(True)
        with pytest.raises(Exception, match="net::ERR_"):
            page.goto(f"{cloud.url}/app/")


# Every page a parent can open, by the path after the site (CHILD stands for the child's id).
PARENT_PAGES = [
    "/app/",
    "/app/children/CHILD",
    "/app/children/CHILD/sign-in",
    "/app/children/CHILD/money",
    "/app/children/CHILD/absences",
    "/app/menu",
    "/app/settings",
    "/app/account",
    "/app/sign-in",
    "/app/forgot",
    "/app/activate",
]


# What sticks out of its card (or of the page's main column) on the right: a table too wide for the phone
# spills over its card's edge well before the page itself scrolls.
POKING_OUT = """[...document.querySelectorAll('main *')].filter(e => {
  const card = e.parentElement.closest('.card, main');
  const edge = card.getBoundingClientRect().right - parseFloat(getComputedStyle(card).paddingRight);
  return e.getBoundingClientRect().right > edge + 1;
}).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 30)).slice(0, 5)"""


def test_no_parent_page_scrolls_sideways_at_360_px_in_russian_or_kazakh_and_axe_finds_nothing(cloud: Cloud) -> None:
    with chromium_page(cloud.url, width=360, height=780, javascript=False) as page:
        _sign_in(page, cloud.url, "ru")
        for language in ("ru", "kk"):
            page.goto(f"{cloud.url}/app/settings")
            page.select_option("select[name=language]", language)
            page.click("form[action='/app/settings'] button[type=submit]")
            for path in PARENT_PAGES:
                page.goto(cloud.url + path.replace("CHILD", cloud.child))
                if path in ("/app/sign-in", "/app/forgot", "/app/activate"):
                    assert page.get_attribute("html", "lang") == language, path
                width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert width[0] <= width[1], f"{path} in {language} scrolls sideways: {page.evaluate(POKING_OUT)}"
                assert page.evaluate(POKING_OUT) == [], f"{path} in {language}: out of its card"
                if path == "/app/children/CHILD":
                    screenshot(page, FOLDER, f"4-child-{language}-360")
    # axe runs as a script: in a browser with scripts on, once (the languages share the markup).
    with chromium_page(cloud.url, width=360, height=780) as page:
        _sign_in(page, cloud.url, "ru")
        for path in PARENT_PAGES:
            page.goto(cloud.url + path.replace("CHILD", cloud.child))
            assert accessibility_problems(page) == [], path
