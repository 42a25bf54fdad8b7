"""Absence and lateness end to end, in a real browser (headless Chromium) and a real push service.

The school administrator sets class 3Б's day in the office (08:30–13:00, ten minutes' grace; the
other classes keep the school's 08:00–14:00). A mother reports her son sick for a day in the parent
app on her phone (360 px wide: first a wrong range and its error, then the right one). The absence
worker is driven once by an injected clock at 3Б's start plus the grace on that day: her daughter,
who has no entry, is the one she hears of (decrypted at the push service simulator); her son, reported
sick, gets no notice. That day is the last working day before today (a report may be up to 30 days
back), so the notice is due at once by the push worker's real clock. Each page is kept as a
screenshot in test-artifacts/parent-absence/ and checked by axe-core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import people
from cloud_api.push.absence_worker import AbsenceWorker
from cloud_api.push.subscriptions import subscribe_device
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, create_school_admin, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from cloud_api.services.school_hours import is_school_day
from cloud_api.services.second_factor import begin_totp, confirm_totp
from cloud_api.settings import CloudSettings
from shared.localtime import LOCAL_TZ
from simulators.http_server import ThreadedServer
from simulators.push_service import Device, PushServiceServer
from tests.browser import accessibility_problems, chromium_page, office_page_checked, office_sign_in, screenshot
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEEN

FOLDER = "parent-absence"
ADMIN_LOGIN = "secretary@s1.kz"
MOTHER_LOGIN = "+77012345678"
PASSWORD = "correct horse battery"


@dataclass
class Cloud:
    url: str
    app: Any
    secret: str
    ids: dict[str, Any]
    push: PushServiceServer
    phone: Device


def last_school_day_before(day: date) -> date:
    day -= timedelta(days=1)
    while not is_school_day(day):
        day -= timedelta(days=1)
    return day


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with PushServiceServer() as push:
        settings = CloudSettings(
            database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
            admin_token=ADMIN,
            push_workers=1,
            push_service_origins=[push.url],
        )
        app = create_app(settings)
        with ThreadedServer(lambda: app, "cloud") as server:
            now = datetime.now(UTC)
            phone = push.state.new_device()
            with app.state.engine.begin() as conn:
                import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor=SYSTEM)
                ids = {r.iin: r.id for r in conn.execute(select(people.c.iin, people.c.id))}
                mother = create_account(
                    conn, MOTHER_LOGIN, actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=ids[MOTHER]
                )
                grant_role(conn, mother.id, Role.GUARDIAN, "s1", actor=SYSTEM)
                for child in (CHILD, TEEN):
                    set_consent(conn, "s1", ids[child], ids[MOTHER], True, actor=SYSTEM)
                keys = phone.subscription(push.url)
                subscribe_device(
                    conn,
                    school_id="s1",
                    guardian_id=ids[MOTHER],
                    account_id=mother.id,
                    endpoint=keys["endpoint"],
                    p256dh=keys["keys"]["p256dh"],
                    auth=keys["keys"]["auth"],
                )
                account = create_school_admin(conn, ADMIN_LOGIN, PASSWORD, "s1", actor=SYSTEM)
                secret = begin_totp(conn, account.id, ADMIN_LOGIN, now).secret
                confirm_totp(conn, account.id, pyotp.TOTP(secret).now(), now, actor=SYSTEM, school_id="s1")
            yield Cloud(server.url, app, secret, ids, push, phone)


def test_a_class_day_a_sick_report_and_the_not_arrived_notice(cloud: Cloud) -> None:
    day = last_school_day_before(datetime.now(LOCAL_TZ).date())

    # The administrator sets the school's day and 3Б's own.
    with chromium_page(cloud.url, locale="ru-RU", width=1280, height=800) as page:
        office_sign_in(page, cloud.url, ADMIN_LOGIN, PASSWORD, cloud.secret)
        page.goto(f"{cloud.url}/office/schools/s1/today")
        page.get_by_role("link", name="Учебный день").first.click()
        page.wait_for_url("**/school-day")
        page.get_by_label("Начало").first.fill("08:00")
        page.get_by_label("Окончание").first.fill("14:00")
        page.get_by_label("Допустимое опоздание, минут").fill("10")
        class_3b = page.get_by_role("group", name="Класс 3Б")
        class_3b.get_by_label("Начало").fill("08:30")
        class_3b.get_by_label("Окончание").fill("07:00")  # before the start: said beside the field
        page.get_by_role("button", name="Сохранить учебный день").click()
        assert "Укажите время окончания позже времени начала" in page.locator("#error-summary").inner_text()
        office_page_checked(page, FOLDER, "01-office-error")
        class_3b.get_by_label("Окончание").fill("13:00")
        page.get_by_role("button", name="Сохранить учебный день").click()
        page.wait_for_url("**done=school_day_saved**")
        assert page.get_by_role("group", name="Класс 3Б").get_by_label("Начало").input_value() == "08:30"
        office_page_checked(page, FOLDER, "02-office-saved")

    # The mother, on her phone: her son is sick that day.
    with chromium_page(cloud.url, locale="ru-RU", width=360, height=780) as phone:
        phone.goto(f"{cloud.url}/app/sign-in?lang=ru")
        phone.locator("input[name=login]").fill(MOTHER_LOGIN)
        phone.locator("input[name=password]").fill(PASSWORD)
        phone.locator("form button[type=submit]").first.click()
        phone.wait_for_url("**/app/")
        phone.goto(f"{cloud.url}/app/children/{cloud.ids[TEEN]}")
        phone.get_by_role("link", name="Сообщить об отсутствии").click()
        phone.wait_for_url("**/absences")
        phone.get_by_label("С", exact=True).fill(day.isoformat())
        phone.get_by_label("По", exact=True).fill((day - timedelta(days=1)).isoformat())
        phone.get_by_label("Болезнь").check()
        phone.get_by_role("button", name="Сообщить", exact=True).click()
        summary = phone.locator("#error-summary").inner_text()
        assert "Последний день раньше первого" in summary
        assert phone.get_by_label("Болезнь").is_checked()  # what was typed is kept
        screenshot(phone, FOLDER, "03-parent-error-360")
        assert accessibility_problems(phone) == []
        phone.get_by_label("По", exact=True).fill(day.isoformat())
        phone.get_by_label("Примечание для классного руководителя (необязательно)").fill("Температура")
        phone.get_by_role("button", name="Сообщить", exact=True).click()
        phone.wait_for_url("**saved=absence**")
        reported = phone.get_by_role("region", name="Сообщения об отсутствии").inner_text()
        assert day.strftime("%d.%m.%Y") in reported and "Болезнь" in reported and "Температура" in reported
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(phone, FOLDER, "04-parent-reported-360")
        assert accessibility_problems(phone) == []

    # 3Б's start plus the grace on that day: the worker, once, by an injected clock.
    deadline = datetime.combine(day, time(8, 40), LOCAL_TZ).astimezone(UTC)
    # Not woken from this thread (the supervisor's events belong to the server's loop): it polls every 0.5 s.
    worker = AbsenceWorker(cloud.app.state.engine, clock=lambda: deadline)
    asyncio.run(worker.round())
    assert cloud.push.state.wait_for(lambda got: len(got) >= 1, timeout_s=20)
    received = cloud.push.state.for_device(cloud.phone)
    assert [n["tag"] for n in received] == [f"{cloud.ids[CHILD]}:not_arrived"]  # the daughter; not the sick son
    assert "Әлия" in received[0]["body"]
