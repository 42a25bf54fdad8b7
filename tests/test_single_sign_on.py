"""Single sign-on from outside (Order No. 456 §9) against a real, certified OpenID Connect provider: panva's
``oidc-provider`` run with the machine's Node, and the cloud as its relying party, driven in Chromium."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from cloud_api.app import create_app
from cloud_api.db.schema import external_identities
from cloud_api.services.accounts import SYSTEM, create_school_admin
from cloud_api.settings import CloudSettings, SignInProvider
from mektep.processes import wait_http
from simulators.broker import free_port
from simulators.http_server import ThreadedServer
from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN
from tests.conftest import need

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
FOLDER = "single-sign-on"


@dataclass
class World:
    url: str
    app: Any


def _provider_installed() -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, capture_output=True, text=True, timeout=300
        )
        need(done.returncode == 0, f"npm could not install oidc-provider: {done.stderr.strip()[-300:]}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    _provider_installed()
    cloud_port, provider_port = free_port(), free_port()
    redirect = f"http://localhost:{cloud_port}/office/sign-in/with/akimat/back"
    node = subprocess.Popen(
        ["node", "provider.mjs", str(provider_port), "mektep-cloud", "a-client-secret-for-tests", redirect],
        cwd=PROVIDER_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://localhost:{provider_port}/.well-known/openid-configuration", proc=node)
        provider = SignInProvider(
            issuer=f"http://localhost:{provider_port}",
            client_id="mektep-cloud",
            client_secret="a-client-secret-for-tests",  # type: ignore[arg-type]
            label="Akimat ID",
        )
        settings = CloudSettings(
            database_url=f"sqlite:///{tmp_path / 'cloud.db'}",
            admin_token=ADMIN,
            push_workers=0,
            sign_in_providers={"akimat": provider},
            public_url=f"http://localhost:{cloud_port}",
        )
        app = create_app(settings)
        with ThreadedServer(lambda: app, "cloud", port=cloud_port) as server:
            with app.state.engine.begin() as conn:
                create_school_admin(conn, "head@s1.kz", "correct horse battery", "s1", actor=SYSTEM)
            yield World(server.url.replace("127.0.0.1", "localhost"), app)
    finally:
        node.terminate()
        node.wait(10)


def _through_the_provider(page: Any, url: str, login: str) -> None:
    page.goto(f"{url}/office/sign-in?lang=ru")
    page.get_by_role("link", name="Войти через Akimat ID").click()
    page.wait_for_load_state()
    # The provider's own pages: its sign-in (unless it remembers this browser), then its consent.
    if page.locator("input[name=login]").count():
        page.locator("input[name=login]").fill(login)
        page.locator("input[name=password]").fill("whatever the provider checks")
        page.locator("button[type=submit]").click()
        page.wait_for_load_state()
    if page.locator("input[name=prompt][value=consent]").count():
        page.locator("button[type=submit]").click()
        page.wait_for_load_state()


def test_a_head_teacher_signs_in_through_the_outside_provider(world: World) -> None:
    with chromium_page(world.url, width=768, height=1000) as page:
        page.goto(f"{world.url}/office/sign-in?lang=ru")
        screenshot(page, FOLDER, "1-sign-in-with-provider")
        assert accessibility_problems(page) == []
        _through_the_provider(page, world.url, "head@s1.kz")
        # The provider vouched for the e-mail; the staff member still gives a second factor (set up now).
        page.wait_for_url("**/office/sign-in/enrol")
        import zxingcpp
        from PIL import Image

        png = page.locator("img.qr").screenshot()
        app = pyotp.parse_uri(zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text)
        page.get_by_label("Введите 6 цифр").fill(app.now())
        page.get_by_role("button", name="Подтвердить").click()
        page.get_by_role("link", name="Коды сохранены").click()
        page.wait_for_url("**/office/")
        page.get_by_role("button", name="Выйти", exact=True).click()

        # Linked once by the verified e-mail: the next time the provider's subject is enough.
        with world.app.state.engine.connect() as conn:
            links = conn.execute(select(external_identities.c.provider, external_identities.c.subject)).all()
        assert [tuple(link) for link in links] == [("akimat", "head@s1.kz")]
        _through_the_provider(page, world.url, "head@s1.kz")
        page.wait_for_url("**/office/sign-in/code")

        # Someone the provider knows but who has no account here is not let in, and is told so.
        page.context.clear_cookies()
        _through_the_provider(page, world.url, "stranger@mail.kz")
        page.wait_for_url("**/office/sign-in?failed=sso_no_account")
        assert "Учётной записи с этим адресом нет" in page.content()
        screenshot(page, FOLDER, "2-no-account")


def test_a_callback_that_this_browser_did_not_begin_is_refused(world: World) -> None:
    with chromium_page(world.url, width=768, height=1000) as page:
        page.goto(f"{world.url}/office/sign-in/with/akimat/back?code=stolen&state=forged")
        page.wait_for_url("**/office/sign-in?failed=sso_failed")
        assert "Вход через внешнюю систему не удался" in page.content()
