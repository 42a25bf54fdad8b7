"""Single sign-on for students (§33-1.13) with a real, certified relying party: panva's ``openid-client``
run with the machine's Node as an e-textbook platform, Mektep as the provider, driven in Chromium.

A student starts at the platform, signs in at Mektep, agrees on the consent page and lands back on
the platform, which shows the ID token it verified (signature by the JWKS, issuer, audience, nonce,
PKCE): the agreed claims, a pairwise subject, no IIN. Her mother withdraws the platform in the parent
app; the next sign-in is refused until she allows it again."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from cloud_api.app import create_app
from cloud_api.integrations.clients import get_client
from cloud_api.integrations.oidc.keys import pairwise_subject
from cloud_api.settings import CloudSettings
from mektep.processes import wait_http
from simulators.broker import free_port
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.oidc_world import STUDENT_PASSWORD, Platform, add_platform, add_students
from tests.cloud_api.school import CHILD, PASSWORD, S2_CHILD, TEEN, seed_world
from tests.conftest import need

RP_DIR = Path(__file__).parent / "oidc_relying_party"
FOLDER = "oidc-sign-in"
IINS = (CHILD, TEEN, S2_CHILD)


@dataclass
class World:
    url: str
    rp_url: str
    app: Any
    platform: Platform
    students: dict[str, UUID]
    ids: dict[str, UUID]


def _relying_party_installed() -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    if not (RP_DIR / "node_modules" / "openid-client").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=RP_DIR, capture_output=True, text=True, timeout=300
        )
        need(done.returncode == 0, f"npm could not install openid-client: {done.stderr.strip()[-300:]}")


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
    with ThreadedServer(lambda: app, "cloud", port=cloud_port):
        school = seed_world(None, app)  # type: ignore[arg-type]  # no API client: the browser is the client
        students = add_students(school)
        rp_base = f"http://localhost:{rp_port}"
        platform = add_platform(school, "Opiq", f"{rp_base}/cb")
        with app.state.engine.begin() as conn:  # its home page receives the student after signing out
            conn.exec_driver_sql(
                "UPDATE integration_clients SET redirect_uris = ? WHERE client_id = ?",
                (json.dumps([f"{rp_base}/cb", f"{rp_base}/"]), platform.client_id),
            )
        issuer = f"http://localhost:{cloud_port}/oidc"
        scope = "openid profile school class role locale"
        node = subprocess.Popen(
            ["node", "rp.mjs", str(rp_port), issuer, platform.client_id, platform.secret, scope],
            cwd=RP_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_http(f"{rp_base}/", proc=node)
            yield World(f"http://localhost:{cloud_port}", rp_base, app, platform, students, school.ids)
        finally:
            node.terminate()
            node.wait(10)


def _sign_in(page: Any, login: str, password: str) -> None:
    page.get_by_label("Телефон или e-mail").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти", exact=True).click()
    page.wait_for_load_state()


def _sign_in_at_the_platform(page: Any, world: World) -> None:
    page.goto(f"{world.rp_url}/")
    page.get_by_role("link", name="Sign in with Mektep Gate").click()
    page.wait_for_url("**/app/sign-in**")
    assert page.get_by_text("Войдите, чтобы перейти на платформу Opiq.").is_visible()
    _sign_in(page, "aliya@mail.kz", STUDENT_PASSWORD)


def test_a_student_signs_in_to_a_platform_and_her_mother_withdraws_it(world: World) -> None:
    with chromium_page(world.url, width=360, height=800) as page:
        _sign_in_at_the_platform(page, world)
        # Mektep's consent page, in the language the platform asked for: exactly what is shared.
        page.wait_for_url("**/oidc/authorize**")
        assert page.get_by_role("heading", name="Вход на платформу Opiq").is_visible()
        boxes = page.get_by_role("checkbox")
        assert [boxes.nth(i).get_attribute("value") for i in range(boxes.count())] == [
            "name",
            "school",
            "class",
            "role",
            "locale",
        ]
        screenshot(page, FOLDER, "1-consent-360")
        assert accessibility_problems(page) == []
        page.get_by_label("Выбранный тобой язык").uncheck()
        page.get_by_role("button", name="Разрешить").click()
        # Back on the platform: openid-client verified the ID token and fetched userinfo.
        page.wait_for_url(f"{world.rp_url}/cb**")
        claims = json.loads(page.locator("#claims").inner_text())
        userinfo = json.loads(page.locator("#userinfo").inner_text())
        screenshot(page, FOLDER, "2-back-on-the-platform")
        assert claims["iss"] == f"{world.url}/oidc" and claims["aud"] == world.platform.client_id
        assert claims["name"] == "Әлия Нұрланова" and claims["class"] == "3Б" and claims["role"] == "student"
        assert claims["school"] == {"id": "s1", "name": "№1 мектеп-гимназия"} and "locale" not in claims
        assert userinfo == {k: claims[k] for k in ("sub", "name", "school", "class", "role")}
        with world.app.state.engine.connect() as conn:
            client = get_client(conn, world.platform.client_id)
            assert client is not None
            expected_sub = pairwise_subject(conn, client, world.students["aliya@mail.kz"])
        assert claims["sub"] == expected_sub and claims["sub"] != str(world.students["aliya@mail.kz"])
        everything = page.content()
        assert not any(iin_ in everything for iin_ in IINS)
        # The platform signs her out of Mektep and gets her back on its home page.
        page.get_by_role("link", name="Sign out").click()
        page.wait_for_url(f"{world.rp_url}/")

    # Her mother sees in the parent app what the platform learns of her daughter, and withdraws it.
    with chromium_page(world.url, width=360, height=800) as page:
        page.goto(f"{world.url}/app/sign-in?lang=ru")
        _sign_in(page, "8 (701) 234-56-78", PASSWORD)
        page.goto(f"{world.url}/app/children/{world.ids[CHILD]}/sign-in")
        section = page.locator("section", has=page.get_by_role("heading", name="Платформы, на которые входит ребёнок"))
        assert "Opiq" in section.inner_text() and "Имя и фамилия, Школа, Класс, Роль" in section.inner_text()
        screenshot(page, FOLDER, "3-guardian-platforms-360")
        assert accessibility_problems(page) == []
        section.get_by_role("button", name="Отозвать согласие").click()
        page.wait_for_url("**saved=platform")
        assert page.get_by_role("button", name="Снова разрешить").is_visible()
        screenshot(page, FOLDER, "4-guardian-withdrew")

    # The next sign-in at the platform is refused, in her language, until her mother allows it again.
    with chromium_page(world.url, width=360, height=800) as page:
        _sign_in_at_the_platform(page, world)
        assert page.get_by_text("Твой родитель отозвал согласие для этой платформы").is_visible()
        assert world.rp_url not in page.url
        screenshot(page, FOLDER, "5-refused-after-withdrawal")
        assert accessibility_problems(page) == []
