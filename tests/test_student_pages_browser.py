"""A student's own pages in a real browser (headless Chromium, a 360 px phone); the pages have no script.

Әлия signs in at /app/, sees this morning's entry and her lunch, rates the lunch (the school's
ratings then hold a pupil's rating), reads the menu, and opens an e-textbook platform from her
digital resources: panva's certified relying party (``tests/oidc_relying_party``, run with Node, as
in ``test_oidc_sign_in_browser.py``) starts the sign-in at its registered start address, Mektep asks
her consent, and she ends signed in at the platform. Every page is kept as a screenshot in
test-artifacts/student-pages/, checked by axe-core, and must not scroll sideways at 360 px.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from cloud_api.app import create_app
from cloud_api.services.gateways import register_gateway
from cloud_api.services.ratings import rating_comments
from cloud_api.settings import CloudSettings
from mektep.processes import wait_http
from shared.localtime import LOCAL_TZ
from simulators.broker import free_port
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.oidc_world import STUDENT_PASSWORD, Platform, add_platform, add_students
from tests.cloud_api.school import CHILD, seed_world, serve_lunch_today
from tests.cloud_api.test_push import earlier_today
from tests.test_oidc_sign_in_browser import RP_DIR, _relying_party_installed

FOLDER = "student-pages"
WIDTH = 360


@dataclass
class World:
    url: str
    rp_url: str
    app: Any
    platform: Platform
    ids: dict[str, UUID]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    _relying_party_installed()
    cloud_port, rp_port = free_port(), free_port()
    settings = CloudSettings(
        database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        admin_token=ADMIN,
        push_workers=0,
        public_url=f"http://localhost:{cloud_port}",
    )
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud", port=cloud_port) as server:
        school = seed_world(None, app)  # type: ignore[arg-type]  # no API client: the browser is the client
        add_students(school)
        rp_base = f"http://localhost:{rp_port}"
        platform = add_platform(school, "Opiq", f"{rp_base}/cb")
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            serve_lunch_today(conn, "s1")
            # The platform's start address: where its "sign in with Mektep" begins (the relying party's /login).
            conn.exec_driver_sql(
                "UPDATE integration_clients SET initiate_login_uri = ? WHERE client_id = ?",
                (f"{rp_base}/login", platform.client_id),
            )
        # This morning the turnstile let Әлия in and the canteen served her lunch: the gateway's signed batch.
        child = str(school.ids[CHILD])
        lunch = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
        body = batch_body(
            [
                event(1, person_id=child, reason="on_roster", at=earlier_today(90)),
                event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(5)),
            ]
        )
        answer = httpx.post(f"{server.url}/v1/ingest/batches", content=body, headers=signed(body))
        assert answer.status_code == 200, answer.text
        issuer = f"http://localhost:{cloud_port}/oidc"
        node = subprocess.Popen(
            ["node", "rp.mjs", str(rp_port), issuer, platform.client_id, platform.secret, "openid profile school"],
            cwd=RP_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_http(f"{rp_base}/", proc=node)
            yield World(f"http://localhost:{cloud_port}", rp_base, app, platform, school.ids)
        finally:
            node.terminate()
            node.wait(10)


def _checked(page: Any, name: str) -> None:
    """The page kept as a screenshot, with no serious axe-core violation and no sideways scroll at 360 px."""
    screenshot(page, FOLDER, name)
    if "/app/" in page.url:  # the student's pages work without a script: they have none
        assert page.locator("script").count() == 0, name
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{name} scrolls sideways: {wide}"
    assert accessibility_problems(page) == [], name


def test_a_student_sees_her_day_rates_lunch_and_opens_a_platform(world: World) -> None:
    with chromium_page(world.url, width=WIDTH, height=800) as page:
        page.goto(f"{world.url}/app/sign-in?lang=ru")
        page.get_by_label("Телефон или e-mail").fill("aliya@mail.kz")
        page.get_by_label("Пароль").fill(STUDENT_PASSWORD)
        page.get_by_role("button", name="Войти", exact=True).click()
        page.wait_for_url(f"{world.url}/app/")

        # Her day: this morning's entry and her lunch.
        assert page.get_by_role("heading", name="Привет, Әлия!").is_visible()
        day = page.locator("ul.day").inner_text()
        assert "Вход в школу" in day and "обед: Плов" in day  # the plov served as "Палау", in her page's Russian
        _checked(page, "1-home")

        page.get_by_role("link", name="Меню", exact=True).first.click()
        page.wait_for_url("**/app/menu")
        assert "Плов" in page.locator("main").inner_text()
        _checked(page, "2-menu")

        # She rates her lunch: four stars and a word; the page shows what she gave, to change.
        page.get_by_role("link", name="Оценить столовую").click()
        page.wait_for_url("**/app/rate")
        page.get_by_label("4 — Хорошо").check()
        page.get_by_label("Комментарий (необязательно)").fill("Вкусно, но мало хлеба")
        _checked(page, "3-rate")
        page.get_by_role("button", name="Оценить", exact=True).click()
        page.wait_for_url("**/app/rate?saved=lunch**")
        assert page.get_by_role("status").inner_text() == "Спасибо: твоя оценка сохранена."
        assert "4 звезды — Хорошо" in page.locator("#meal-lunch").inner_text()
        assert page.get_by_label("4 — Хорошо").is_checked()
        _checked(page, "4-rated")
        today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
        with world.app.state.engine.connect() as conn:  # what the office's ratings page lists
            comments, _total = rating_comments(
                conn, "s1", today, today + timedelta(days=1), names=False, with_hidden=False
            )
        assert [(c.rater_role, c.stars, c.comment) for c in comments] == [("student", 4, "Вкусно, но мало хлеба")]

        # Her digital resources: Opiq, not agreed yet; its button starts the sign-in at the platform.
        page.get_by_role("link", name="Цифровые ресурсы").first.click()
        page.wait_for_url("**/app/resources")
        card = page.locator("section.resource", has=page.get_by_role("heading", name="Opiq"))
        assert "Пока нет" in card.inner_text()
        _checked(page, "5-resources")
        card.get_by_role("link", name="Открыть Opiq").click()
        page.wait_for_url("**/oidc/authorize**")  # already signed in at Mektep: only her consent is asked
        assert page.get_by_role("heading", name="Вход на платформу Opiq").is_visible()
        _checked(page, "6-consent")
        page.get_by_role("button", name="Разрешить").click()
        page.wait_for_url(f"{world.rp_url}/cb**")
        claims = json.loads(page.locator("#claims").inner_text())
        assert claims["name"] == "Әлия Нұрланова" and claims["school"]["id"] == "s1"
        assert claims["iss"] == f"{world.url}/oidc" and claims["aud"] == world.platform.client_id
        screenshot(page, FOLDER, "7-signed-in-at-the-platform")

        page.goto(f"{world.url}/app/resources")
        assert "Согласие дано" in page.locator("section.resource").inner_text()
