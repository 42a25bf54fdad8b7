"""The demo's school: every account the demo prints signs in by the door it is printed with.

The school admin with the authenticator the demo set up (its printed secret gives the code); the
secretary, the cook and the region analyst set theirs up at their first sign-in, as the demo says;
the guardian signs in to the parent app and sees their child.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from cloud_api.app import create_app
from cloud_api.db.engine import make_engine
from cloud_api.services.canteen_pins import pins_of
from cloud_api.services.roster_sync import build_delta
from cloud_api.settings import CloudSettings
from mektep.demo_school import DemoAccount, DemoSchool, seed_school
from shared.pins import verify_pin

ORIGIN = {"Origin": "http://testserver"}


def _password(client: TestClient, door: str, account: DemoAccount) -> str:
    """The sign-in form with the printed login and password: where it sends the reader next."""
    form = {"login": account.login, "password": account.password, "lang": "ru"}
    answer = client.post(f"/{door}/sign-in", data=form, headers=ORIGIN, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _first_sign_in(client: TestClient, account: DemoAccount) -> None:
    """A staff member's first sign-in at the office: the password, then the app set up from the page's key."""
    assert _password(client, "office", account) == "/office/sign-in/enrol"
    page = client.get("/office/sign-in/enrol")
    found = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text)
    assert page.status_code == 200 and found is not None, page.text
    code = pyotp.TOTP(found.group(1)).now()
    confirmed = client.post("/office/sign-in/enrol", data={"code": code}, headers=ORIGIN)
    assert confirmed.status_code == 200 and "/office/" in confirmed.text  # the recovery codes, then the office


def _seeded(tmp_path: Path) -> tuple[str, DemoSchool]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    return url, seed_school(url, "demo-school", 12, b"k" * 32, random.Random(1))


def test_the_demo_guardian_signs_in_and_sees_a_child_with_todays_lunch(tmp_path: Path) -> None:
    url, school = _seeded(tmp_path)
    assert len(school.cards) == len(set(school.cards)) == 12 + 1  # twelve students and one teacher
    app = create_app(CloudSettings(database_url=url, admin_token="t" * 24, push_workers=0))
    with TestClient(app, base_url="http://testserver") as client:
        assert client.get("/app/sign-in").status_code == 200
        assert _password(client, "app", school.guardian) == "/app/"
        home = client.get("/app/")
        assert home.status_code == 200 and "Имя" in home.text  # the generated child's first name
        menu = client.get("/app/menu")
        assert "Плов" in menu.text and "700" in menu.text


def test_the_demo_student_signs_in_to_her_own_pages(tmp_path: Path) -> None:
    url, school = _seeded(tmp_path)
    app = create_app(CloudSettings(database_url=url, admin_token="t" * 24, push_workers=0))
    with TestClient(app, base_url="http://testserver") as client:
        assert _password(client, "app", school.student) == "/app/"
        assert "/app/resources" in client.get("/app/").text
        assert client.get("/app/rate").status_code == 200


def test_every_staff_account_the_demo_prints_enters_the_office(tmp_path: Path) -> None:
    url, school = _seeded(tmp_path)
    month = datetime.now(UTC).strftime("%Y-%m")
    app = create_app(CloudSettings(database_url=url, admin_token="t" * 24, push_workers=0))
    with TestClient(app, base_url="http://testserver") as client:
        assert client.get("/office/sign-in").status_code == 200
        # The admin: the authenticator is set up already, and the printed secret (or the QR code's URI) gives the code.
        enrolled = school.admin.authenticator
        assert enrolled is not None and pyotp.parse_uri(enrolled.uri).secret == enrolled.secret
        assert _password(client, "office", school.admin) == "/office/sign-in/code"
        code = pyotp.TOTP(enrolled.secret).now()
        entered = client.post("/office/sign-in/code", data={"code": code}, headers=ORIGIN, follow_redirects=False)
        assert entered.status_code == 303 and entered.headers["location"] == "/office/"
        assert school.admin.login in client.get("/office/").text
        assert client.get("/office/schools/demo-school/reports").status_code == 200
        client.cookies.clear()

        _first_sign_in(client, school.secretary)
        assert client.get("/office/schools/demo-school/reports").status_code == 200  # a second school admin
        client.cookies.clear()

        _first_sign_in(client, school.cook)
        assert client.get("/office/schools/demo-school/reports").status_code == 403  # canteen staff, not an admin
        assert client.get("/office/schools/demo-school/canteen").status_code == 200  # but the canteen is theirs
        assert client.get("/v1/schools/demo-school/menu").status_code == 200
        client.cookies.clear()

        _first_sign_in(client, school.analyst)
        region = client.get(f"/v1/regions/{school.region}/reports/{month}")
        assert region.status_code == 200, region.text
        assert client.get("/v1/regions/elsewhere/reports/" + month).status_code == 403


def test_the_printed_canteen_pin_and_name_are_the_cooks_as_the_canteen_screen_has_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    # 60 students: three staff members, all "Мұғалім У." by first name and last initial.
    school = seed_school(url, "demo-school", 60, b"k" * 32, random.Random(1))
    engine = make_engine(url)
    with engine.connect() as conn:
        pins = pins_of(conn, "demo-school")
        staff = [p for p in build_delta(conn, "demo-school", 0).people if p.role == "staff"]
    engine.dispose()
    assert len(pins) == 1 and verify_pin(school.canteen_pin, pins[next(iter(pins))])
    assert [p.display_name for p in staff if p.id in pins] == [school.cook_name] == ["Мұғалім Учитель0"]
    assert len({p.display_name for p in staff}) == len(staff) == 3  # told apart on the screen
