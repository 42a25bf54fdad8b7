"""The gateway's pages reached over the school's network in Chromium: staff sign in by PIN or from a
paired device, a wrong PIN is told in their language, and the events page reads without a script."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.browser import accessibility_problems, chromium_page, screenshot
from tests.conftest import need
from tests.gateway.local_pages import PIN, Pages, local_pages

FOLDER = "gateway-pages"
SIZES = {"768": (768, 1024), "360": (360, 780)}


def school_network_address() -> str | None:
    """This machine's address on its network (not loopback), as a canteen PC would reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Pages, str]]:
    address = school_network_address()
    need(address is not None, "this machine has no address besides loopback")
    with local_pages(tmp_path) as pages:
        server = uvicorn.Server(uvicorn.Config(pages.app, host="0.0.0.0", port=0, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield pages, f"http://{address}:{port}"
        finally:
            server.should_exit = True
            thread.join(10)


def checked(page: object, name: str, *, scripts: bool = True) -> None:
    """Kept at 768 and 360 px, with no sideways scroll and no serious axe-core violation (both need
    a script in the page: with scripts off, only the screenshots)."""
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
        screenshot(page, FOLDER, f"{name}-{size}")
        if scripts:
            wide = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            assert wide <= width, f"{name} scrolls sideways at {size}"
    if scripts:
        assert accessibility_problems(page) == [], name


def test_staff_sign_in_with_their_pin_and_serve(served: tuple[Pages, str]) -> None:
    _, url = served
    with chromium_page(url, offline=True) as page:
        page.goto(f"{url}/canteen?lang=ru")
        assert "/sign-in" in page.url
        page.get_by_role("heading", name="Вход по PIN-коду столовой").wait_for()
        checked(page, "sign-in")
        page.get_by_label("Сотрудник").select_option(label="Гүлнар апай")
        page.get_by_label("PIN-код").fill("0000")
        page.get_by_role("button", name="Войти").click()
        assert page.get_by_role("alert").inner_text() == "неверный PIN-код"
        checked(page, "sign-in-wrong-pin")
        page.get_by_label("PIN-код").fill(PIN)
        page.get_by_role("button", name="Войти").click()
        page.wait_for_url("**/canteen?lang=ru")
        assert "Гүлнар апай" in page.locator(".visitor").inner_text()
        # The manual entry, signed by the PIN as before: the cook serves a child who forgot the card.
        page.locator("#pin").fill(PIN)
        page.locator("#child").select_option(label="Береке Нұр")
        page.locator("#reason").fill("забыл карту")
        page.get_by_role("button", name="Выдать", exact=True).click()
        page.locator("#answer.granted").wait_for()
        assert "Береке Нұр" in page.locator("#answer").inner_text()
        page.set_viewport_size({"width": 768, "height": 1024})
        screenshot(page, FOLDER, "canteen-signed-in-768")
        page.set_viewport_size({"width": 360, "height": 780})
        screenshot(page, FOLDER, "canteen-signed-in-360")
        assert accessibility_problems(page) == []
        assert page.refused == []


def test_a_paired_device_goes_straight_in(served: tuple[Pages, str]) -> None:
    pages, url = served
    code = pages.pairing_code()
    with chromium_page(url, offline=True, locale="kk-KZ") as page:
        page.goto(f"{url}/?lang=kk")
        page.get_by_label("Байланыстыру коды").fill(code)
        page.get_by_label("Осы құрылғының атауы").fill("Асхана компьютері")
        page.get_by_role("button", name="Байланыстыру", exact=True).click()
        page.wait_for_url(f"{url}/?lang=kk")
        page.goto(f"{url}/canteen?lang=kk")  # any page, no PIN asked
        assert page.url == f"{url}/canteen?lang=kk"
        assert "Асхана компьютері" in page.locator(".visitor").inner_text()
        page.goto(f"{url}/?lang=kk")
        journal = page.locator("table").nth(1).inner_text()
        assert "құрылғы байланыстырылды" in journal and "байланыстыру коды берілді" in journal
        checked(page, "events-paired")


def test_the_events_page_reads_in_words_with_scripts_off(served: tuple[Pages, str]) -> None:
    pages, url = served
    pages.tap("ALIYA", 10)
    pages.tap("ALIYA", 11)  # a second free lunch: refused
    pages.tap("NOBODY", 12)
    code = pages.pairing_code()
    with chromium_page(url, javascript=False, locale="kk-KZ") as page:
        page.goto(f"{url}/?lang=kk")
        page.get_by_label("Байланыстыру коды").fill(code)  # the forms work without a script too
        page.get_by_label("Осы құрылғының атауы").fill("IT")
        page.get_by_role("button", name="Байланыстыру", exact=True).click()
        page.wait_for_url(f"{url}/?lang=kk")
        rows = page.locator("#events tr").all_inner_texts()
        assert len(rows) == 3
        assert "мұндай карта жоқ" in rows[0] and "бұл тамақ алынып қойған" in rows[1] and "тізімде бар" in rows[2]
        assert not any(code in " ".join(rows) for code in ("on_roster", "already_served", "unknown_card", "granted"))
        page.goto(f"{url}/?lang=ru")
        assert "это питание уже выдано" in page.locator("#events").inner_text()
        checked(page, "events-no-script", scripts=False)
