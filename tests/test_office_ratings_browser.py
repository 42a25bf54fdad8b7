"""The school reads what families and pupils think of today's lunch, in a real browser (headless Chromium).

A mother rates her daughter's lunch on her phone in the parent app (5 stars, "очень вкусно") and her
son's (2 stars, a rude comment); a father and a pupil rate through the services (the pupil's own page
comes with the families' issue). The school administrator opens the office's ratings, chooses the
day, reads the average, the distribution and the comments with who wrote them, hides the rude
comment after a check, and sees it hidden while its stars still count. Each page is kept as a
screenshot at 1280×800 and 768×1024 in test-artifacts/office-ratings/, checked by axe-core, and
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
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import meal_ratings, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, create_school_admin, grant_role
from cloud_api.services.family import rate_meal
from cloud_api.services.gateways import register_gateway
from cloud_api.services.ratings import rate_as_student
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.localtime import LOCAL_TZ
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, FATHER, GOOD, HEADER, MOTHER, OTHER_CHILD, S1_EXTRA, TEEN, serve_lunch_today

FOLDER = "office-ratings"
LOGIN = "secretary@s1.kz"
PASSWORD = "correct horse battery"
RUDE = "Суп холодный, повар дурак"


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str
    ids: dict[str, Any]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor=SYSTEM)
            ids = {r.iin: r.id for r in conn.execute(select(people.c.iin, people.c.id))}
            mother = create_account(
                conn, "+77012345678", actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=ids[MOTHER]
            )
            grant_role(conn, mother.id, Role.GUARDIAN, "s1", actor=SYSTEM)
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
            serve_lunch_today(conn, "s1")
        # The canteen's terminal served lunch to three pupils: the gateway's signed batch.
        at = datetime.now(LOCAL_TZ).isoformat()
        lunch = {"period": "lunch", "category": "free", "dishes": ["Плов"], "price_tiyn": 0}
        body = batch_body(
            [
                event(n, at=at, kind="meal", person_id=str(ids[c]), meal=lunch)
                for n, c in enumerate((CHILD, TEEN, OTHER_CHILD), 1)
            ]
        )
        answer = httpx.post(f"{server.url}/v1/ingest/batches", content=body, headers=signed(body))
        assert answer.status_code == 200, answer.text
        yield Cloud(server.url, app, secret, ids)


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def _parent_rates(page: Any, url: str, child: Any, stars: int, comment: str) -> None:
    page.goto(f"{url}/app/children/{child}")
    form = page.locator("form.rating")
    form.get_by_label(f"{stars}★").check()
    form.locator("textarea[name=comment]").fill(comment)
    form.get_by_role("button").click()
    page.wait_for_url("**saved=rating**")


def test_the_admin_reads_a_days_ratings_and_hides_a_rude_comment(cloud: Cloud) -> None:
    today = datetime.now(LOCAL_TZ).date()
    # The mother, on her phone: both of her children had lunch today.
    with chromium_page(cloud.url, locale="ru-RU") as phone:
        phone.goto(f"{cloud.url}/app/sign-in?lang=ru")
        phone.locator("input[name=login]").fill("+77012345678")
        phone.locator("input[name=password]").fill(PASSWORD)
        phone.locator("form button[type=submit]").first.click()
        phone.wait_for_url("**/app/")
        _parent_rates(phone, cloud.url, cloud.ids[CHILD], 5, "Очень вкусно, спасибо!")
        _parent_rates(phone, cloud.url, cloud.ids[TEEN], 2, RUDE)
    with cloud.app.state.engine.begin() as conn:  # a father, and a pupil on their own (their page comes later)
        rate_meal(conn, "s1", cloud.ids[OTHER_CHILD], cloud.ids[FATHER], today, "lunch", 4, None)
        rate_as_student(conn, "s1", cloud.ids[TEEN], today, "lunch", 3, "Нормально, но мало хлеба")

    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/schools/s1/today")

        # The month, then the day chosen in the form (kept in the address).
        page.get_by_role("link", name="Оценки питания").first.click()
        page.wait_for_url("**/ratings")
        _checked(page, "01-month")
        page.get_by_label("День").select_option(today.isoformat())
        page.get_by_role("button", name="Показать").click()
        page.wait_for_url(f"**day={today.isoformat()}**")
        figures = page.locator(".figures").inner_text()
        assert "3,5" in figures and "4" in figures  # (5 + 2 + 4 + 3) / 4, four ratings
        distribution = page.locator("table.ratings-dist tbody tr")
        assert [distribution.nth(n).locator("td.num").first.inner_text() for n in range(5)] == ["1", "1", "1", "1", "0"]
        comments = page.locator("ul.comments")
        assert RUDE in comments.inner_text() and "Нұрланова Гүлнар" in comments.inner_text()
        assert "Ученик: Иванов Пётр" in comments.inner_text()
        _checked(page, "02-day")

        # The rude comment: hidden after a check, its stars still counted.
        rude = comments.locator("li", has_text=RUDE)
        rude.get_by_role("link", name="Скрыть комментарий").click()
        page.wait_for_url("**/hide?**")
        _checked(page, "03-hide-check")
        page.get_by_role("button", name="Скрыть комментарий").click()
        page.wait_for_url("**done=comment_hidden**")
        assert f"day={today.isoformat()}" in page.url  # back to the same day
        assert "Комментарий скрыт" in page.locator(".flash").inner_text()
        hidden = page.locator("ul.comments li.is-hidden")
        assert RUDE in hidden.inner_text() and "Скрыт " in hidden.inner_text()
        assert hidden.get_by_role("link", name="Показать снова").count() == 1
        assert "3,5" in page.locator(".figures").inner_text()
        _checked(page, "04-hidden")
    with cloud.app.state.engine.connect() as conn:
        assert conn.execute(select(meal_ratings.c.hidden_at).where(meal_ratings.c.comment == RUDE)).scalar_one()
