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
from pathlib import Path
from typing import Any

from tests.conftest import need

__all__ = ["ARTIFACTS", "CHROMIUM", "accessibility_problems", "chromium_page", "screenshot"]

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
    base_url: str, *, offline: bool = False, locale: str = "ru-RU", width: int = 412, height: int = 900
) -> Iterator[Any]:
    """A fresh browser context's page; ``page.refused`` lists the requests refused for leaving
    ``base_url``, each as ``"<resource type> <url>"`` (``script https://…``)."""
    need(CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=_ARGS)
        try:
            context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
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
