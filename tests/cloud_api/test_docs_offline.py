"""/docs and /redoc render in Chromium on a network that reaches nothing but the cloud itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_api.app import create_app
from cloud_api.settings import CloudSettings
from simulators.http_server import ThreadedServer
from tests.browser import chromium_page, screenshot
from tests.cloud_api.helpers import ADMIN


@pytest.fixture
def cloud_url(tmp_path: Path) -> Iterator[str]:
    settings = CloudSettings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", admin_token=ADMIN, push_workers=0)
    with ThreadedServer(lambda: create_app(settings), "cloud") as server:
        yield server.url


def test_swagger_ui_and_redoc_render_with_no_network_but_the_cloud(cloud_url: str) -> None:
    with chromium_page(cloud_url, offline=True, width=1280) as page:
        page.goto(f"{cloud_url}/docs")
        page.wait_for_selector(".opblock-summary", timeout=15_000)
        operations = page.locator(".opblock-summary").count()
        assert operations > 30, "Swagger UI listed the API's operations"
        assert page.get_by_text("Deliver a signed batch of gateway events").count() == 1
        # The session's two ways in, and an outside system's client credentials, as security schemes.
        page.locator("button.authorize").first.click()
        dialog = page.locator(".auth-container")
        dialog.first.wait_for()
        text = page.inner_text(".modal-ux")
        assert dialog.count() == 3 and "mektep_session" in text and "attendance:read" in text
        screenshot(page, "docs", "swagger-ui", full_page=False)

        page.goto(f"{cloud_url}/redoc")
        heading = page.get_by_role("heading", name="Deliver a signed batch of gateway events")
        heading.wait_for(timeout=15_000)
        screenshot(page, "docs", "redoc", full_page=False)
        # What the pages need comes from the cloud; ReDoc's footer asks a CDN for its maker's logo,
        # an image that shows nothing on a closed network and changes nothing else.
        needed = [r for r in page.refused if not r.startswith("image ")]
        assert needed == [], f"the pages asked for something off the closed network: {needed}"
