"""Headless Debian Chromium through Playwright, for the tests that use a page as its user would.

``chromium_page(base_url)`` yields a Playwright page; with ``offline=True`` every request that
leaves ``base_url`` is refused and listed in ``page.refused`` (a school's closed network). The
test is skipped when Chromium is absent, and fails instead in CI. Screenshots go to
``test-artifacts/<folder>/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp

from tests.conftest import need

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "OFFICE_SIZES",
    "accessibility_problems",
    "chromium_page",
    "office_page_checked",
    "office_sign_in",
    "screenshot",
]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the machine's notes advise: without the background-networking flags Chromium keeps calling
# Google's hosts, which a closed network refuses.
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(
    base_url: str,
    *,
    offline: bool = False,
    locale: str = "ru-RU",
    width: int = 412,
    height: int = 900,
    javascript: bool = True,
) -> Iterator[Any]:
    """A fresh browser context's page; ``page.refused`` lists the requests refused for leaving
    ``base_url``, each as ``"<resource type> <url>"`` (``script https://…``). ``javascript=False``
    is a browser with scripts off."""
    need(CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=_ARGS)
        try:
            context = browser.new_context(
                locale=locale, viewport={"width": width, "height": height}, java_script_enabled=javascript
            )
            refused: list[str] = []
            if offline:

                def only_ours(route: Any) -> None:
                    url = route.request.url
                    if url.startswith(base_url) or url.startswith("data:") or url.startswith("blob:"):
                        route.continue_()
                    else:
                        refused.append(f"{route.request.resource_type} {url}")
                        route.abort("internetdisconnected")

                context.route("**/*", only_ours)
            page = context.new_page()
            page.refused = refused
            yield page
        finally:
            browser.close()


def screenshot(page: Any, folder: str, name: str, *, full_page: bool = True) -> Path:
    """Keep a screenshot (of the whole page, or of what the window shows) as a test artefact; its path."""
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's critical and serious violations on the page as it is now, each as ``rule: help (where)``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({', '.join(str(n['target']) for n in v['nodes'][:3])})"
        for v in results.response["violations"]
        if v.get("impact") in ("critical", "serious")
    ]


# The office's two screens: the office PC and a tablet.
OFFICE_SIZES = {"1280": (1280, 800), "768": (768, 1024)}


def office_page_checked(page: Any, folder: str, name: str) -> None:
    """An office page as staff see it on the office PC and on a tablet: kept as a screenshot at each
    size, with no critical or serious axe-core violation, and no sideways scroll at 768 px."""
    for size, (width, height) in OFFICE_SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, folder, f"{name}-{size}")
        if size == "768":
            wide = page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
                ".map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 5)"
            )
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways: {wide}"
    assert accessibility_problems(page) == [], name
    page.set_viewport_size({"width": 1280, "height": 800})


def office_sign_in(page: Any, url: str, login: str, password: str, secret: str) -> None:
    """Sign in to the office in Russian as staff do: the password, then the authenticator's next code."""
    page.goto(f"{url}/office/sign-in?lang=ru")
    page.get_by_label("Телефон или e-mail").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти", exact=True).click()
    page.wait_for_url("**/office/sign-in/code")
    # The next period's code: the one of this period may have been used by the set-up already.
    page.get_by_label("Код из приложения-аутентификатора").fill(
        pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1)
    )
    page.get_by_role("button", name="Подтвердить").click()
    page.wait_for_url("**/office/")
