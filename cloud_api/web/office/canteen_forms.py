"""What the canteen's forms read from what people type: amounts in tenge, times of day, the sub-navigation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from fastapi.responses import HTMLResponse

from cloud_api.web.office.console import Desk
from shared.i18n import Translator

__all__ = ["MAX_PRICE_TIYN", "SubPage", "canteen_page", "canteen_pages", "typed_tenge", "typed_time"]

MAX_PRICE_TIYN = 100_000_00  # 100 000 ₸: no school dish costs more; a typo of a zero too many is caught
_TENGE = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})(?::\d{2})?$")


def typed_tenge(text: str) -> int | None:
    """An amount as people type it ("700", "700,50", "1 200", "1 200.5 ₸") in tiyn; None when it is not one."""
    cleaned = re.sub(r"[\s\u00a0\u202f'’]", "", text).removesuffix("₸").removesuffix("тг").removesuffix("тенге")
    found = _TENGE.fullmatch(cleaned)
    if found is None:
        return None
    tiyn = int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
    return tiyn if tiyn <= MAX_PRICE_TIYN else None


def typed_time(text: str) -> time | None:
    """A time of day as a time field sends it or as typed ("07:30", "7.30"); None when it is not one."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        return None
    hours, minutes = int(found.group(1)), int(found.group(2))
    return time(hours, minutes) if hours < 24 and minutes < 60 else None


@dataclass(frozen=True)
class SubPage:
    """One page of the canteen's own navigation."""

    href: str
    label: str
    current: bool


def canteen_pages(base: str, admin: bool, here: str, _: Translator) -> list[SubPage]:
    """The canteen's pages this account may open (the rules and PINs are the administrator's)."""
    pages = [("", _("The day")), ("/dishes", _("Dishes")), ("/menu", _("Menu planner"))]
    if admin:
        pages += [("/rules", _("Meal rules")), ("/pins", _("Canteen PINs"))]
    root = f"{base}/canteen"
    found = [(root + p, label) for p, label in pages]
    # The longest address that the current one starts with is the page the reader is on.
    current = max((href for href, _label in found if here == href or here.startswith(href + "/")), key=len, default="")
    return [SubPage(href, label, href == current) for href, label in found]


def canteen_page(desk: Desk, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A canteen page: the office's page with the canteen's own navigation above it."""
    nav = canteen_pages(desk.base, desk.admin, desk.request.url.path, desk._)
    return desk.page(name, title=title, status=status, canteen_nav=nav, **context)
