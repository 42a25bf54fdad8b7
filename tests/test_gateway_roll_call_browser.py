"""The roll call in Chromium, as staff open it in an evacuation: from the school's network, without the
Internet, they sign in with their PIN, read who is in the building class by class at 768 px and on a
phone, and print it: no navigation on paper, the time it was made at the top, one class a sheet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
import uvicorn
from pypdf import PdfReader

from tests.browser import ARTIFACTS, accessibility_problems, chromium_page, screenshot
from tests.conftest import need
from tests.gateway.evacuation import PIN, Gateway, morning, school_of
from tests.gateway.roster_factories import at_local
from tests.test_gateway_pages_browser import school_network_address

FOLDER = "gateway-roll-call"
CLASSES = ["1А", "2Б", "10А"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[set[str], str]]:
    """The gateway's pages on the school's network after a morning; who should be on the list."""
    address = school_network_address()
    need(address is not None, "this machine has no address besides loopback")
    school = school_of(36, 4, CLASSES)
    gateway = Gateway.open(tmp_path / "data" / "gateway.db", at_local(11, 45), school)
    day = morning(school, seed=3)
    gateway.play(day.reads)
    server = uvicorn.Server(uvicorn.Config(gateway.app, host="0.0.0.0", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield {school.people[card].display_name for card in day.inside}, f"http://{address}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        gateway.close()


def test_staff_sign_in_read_and_print_the_roll_call(served: tuple[set[str], str]) -> None:
    inside, url = served
    with chromium_page(url, offline=True, width=768, height=1024) as page:
        page.goto(f"{url}/roll-call?lang=ru")
        assert "/sign-in" in page.url  # signed out: the sign-in page first
        page.get_by_label("Сотрудник").select_option(label="Гүлнар Сейітқызы")
        page.get_by_label("PIN-код").fill(PIN)
        page.get_by_role("button", name="Войти").click()
        page.wait_for_url("**/roll-call?lang=ru")
        page.get_by_role("heading", name="Список для переклички: кто в здании").wait_for()
        assert "Сформировано 24.11.2026 в 11:45" in page.locator(".made").inner_text()
        headings = page.locator("section.group h2").all_inner_texts()
        assert [h.split(":")[0] for h in headings] == ["1А класс", "2Б класс", "10А класс", "Сотрудники"]
        names = page.locator("td.name").all_inner_texts()
        assert sorted(names) == sorted(inside)
        total = int(page.locator("#total").inner_text())
        assert total == sum(int(h.rsplit(": ", 1)[1]) for h in headings) == len(names)
        # The counts link to their class's list.
        page.get_by_role("link", name="10А класс").click()
        assert page.url.endswith("#group-3")
        assert page.get_by_role("button", name="Распечатать список для переклички").is_visible()
        for width, height in ((768, 1024), (360, 780)):
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, FOLDER, f"roll-call-{width}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"scrolls sideways at {width}"
        assert accessibility_problems(page) == []

        page.set_viewport_size({"width": 768, "height": 1024})
        page.emulate_media(media="print")
        screenshot(page, FOLDER, "roll-call-print")
        for hidden in ("nav", ".visitor", ".hint", ".actions"):
            assert not page.locator(hidden).first.is_visible(), f"{hidden} is printed"
        # Each class's sheet says when the list was made, and has a column to tick at the assembly point.
        assert page.locator("section.group .print-only").first.is_visible()
        assert page.get_by_role("columnheader", name="Отметка").first.is_visible()
        pdf = page.pdf(format="A4")
        (ARTIFACTS / FOLDER / "roll-call.pdf").write_bytes(pdf)
        sheets = [sheet.extract_text() for sheet in PdfReader(BytesIO(pdf)).pages]
        assert len(sheets) == 1 + len(headings), "the counts on the first sheet, then one class a sheet"
        for sheet, heading in zip(sheets[1:], headings, strict=True):
            assert sheet.startswith(heading) and "Сформировано 24.11.2026 в 11:45" in sheet
        assert accessibility_problems(page) == []
        assert page.refused == []
