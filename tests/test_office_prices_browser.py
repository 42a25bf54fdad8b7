"""A price changed after lunch, in a real browser (headless Chromium): the lunches served keep theirs.

Lunch is on at 700 ₸. A pupil eats free and a teen at the discount (she pays half); the school's
administrator reads on the canteen's day what the state owes for them, then raises today's lunch to
900 ₸ in the menu planner. The lunches already served still count at 700 ₸; the next pupil served
counts at 900 ₸. Pages kept at 1280 and 768 px in test-artifacts/office-prices/, axe-checked, and
no sideways scroll at 768 px.
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
from cloud_api.db.schema import people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.services.gateways import register_gateway
from cloud_api.services.roster_import import import_roster
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ, local_date
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, office_page_checked, office_sign_in
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, OTHER_CHILD, S1_EXTRA, TEEN, serve_lunch_today

FOLDER = "office-prices"
LOGIN = "head@s1.kz"
PASSWORD = "correct horse battery"


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str
    who: dict[str, Any]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    app = create_app(settings)
    with ThreadedServer(lambda: app, "cloud") as server:
        now = datetime.now(UTC)
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor=SYSTEM)
            who = dict(conn.execute(select(people.c.iin, people.c.id)).all())
            serve_lunch_today(conn, "s1", price_tiyn=70000)
            account = create_school_admin(conn, LOGIN, PASSWORD, "s1", actor=SYSTEM)
            secret = begin_totp(conn, account.id, LOGIN, now).secret
            confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
        yield Cloud(server.url, app, secret, who)


def _served(cloud: Cloud, first_seq: int, *lunches: tuple[str, str, int]) -> None:
    """Lunches served now at the school's gateway: (pupil's IIN, category, what the family paid)."""
    now = datetime.now(LOCAL_TZ).isoformat()
    body = batch_body(
        [
            event(
                first_seq + n,
                kind="meal",
                person_id=str(cloud.who[pupil]),
                reason="on_roster",
                meal={"period": "lunch", "category": category, "dishes": ["Палау"], "price_tiyn": paid},
                at=now,
            )
            for n, (pupil, category, paid) in enumerate(lunches)
        ]
    )
    assert httpx.post(f"{cloud.url}{INGEST_PATH}", content=body, headers=signed(body)).status_code == 200


def _owed(page: Any) -> dict[str, str]:
    """The canteen day's table of meals by category: category → what the state owes."""
    rows = page.locator("section", has=page.get_by_role("heading", name="Питание сегодня по виду оплаты")).locator(
        "tbody tr"
    )
    return {
        row.locator("th").inner_text(): row.locator("td").nth(2).inner_text().replace("\xa0", " ") for row in rows.all()
    }


def _checked(page: Any, name: str) -> None:
    office_page_checked(page, FOLDER, name)


def test_a_price_raised_after_lunch_leaves_the_lunches_served_at_their_price(cloud: Cloud) -> None:
    _served(cloud, 1, (CHILD, "free", 0), (TEEN, "discounted", 35000))
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/schools/s1/canteen")
        assert _owed(page) == {"бесплатное": "700 ₸", "льготное": "350 ₸"}
        _checked(page, "01-day-at-700")

        today = local_date(datetime.now(UTC))
        page.goto(f"{cloud.url}/office/schools/s1/canteen/menu/{today}/lunch")
        page.get_by_label("Цена комплекса, тенге").fill("900")
        page.get_by_role("button", name="Сохранить комплекс").click()
        page.wait_for_url("**done=set_meal_saved**")

        page.goto(f"{cloud.url}/office/schools/s1/canteen")
        assert _owed(page) == {"бесплатное": "700 ₸", "льготное": "350 ₸"}  # served at 700: they stay
        assert "900 ₸" in page.locator("#menu-h").locator("xpath=..").inner_text().replace("\xa0", " ")
        _served(cloud, 3, (OTHER_CHILD, "free", 0))  # the next pupil, after the change
        page.reload()
        assert _owed(page) == {"бесплатное": "1 600 ₸", "льготное": "350 ₸"}  # 700 + 900
        _checked(page, "02-day-after-the-change")
