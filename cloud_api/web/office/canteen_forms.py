"""What the canteen's forms read from what people type (times of day; amounts in tenge come from
:mod:`cloud_api.web.office.amounts`), and the canteen's sub-navigation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from fastapi.responses import HTMLResponse

from cloud_api.web.office.amounts import MAX_PRICE_TIYN, typed_tenge
from cloud_api.web.office.console import Desk
from shared.i18n import Translator

__all__ = ["MAX_PRICE_TIYN", "SubPage", "canteen_page", "canteen_pages", "typed_tenge", "typed_time"]

_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})(?::\d{2})?$")


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
