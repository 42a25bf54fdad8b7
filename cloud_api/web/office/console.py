"""What every page of the school office shares: who sits at the desk, the navigation, lists and forms.

A page of the office is a route that takes a :data:`AdminDesk` (the school's administrator) or a
:data:`StaffDesk` (the administrator or the canteen's staff) and answers ``desk.page(...)``. The
desk knows the school of the address, the signed-in account, its roles there and the reader's
language; its navigation shows only what the account may open. A list page reads its sorting,
filters and page from the address through :class:`Listing`, so that every list can be bookmarked,
shared and used without JavaScript. A form that fails answers the same page again with
:class:`FormErrors` (a summary on top, each message beside its field); one that succeeds sends the
browser on with a flash message named in the address (``?done=card_given``), never its own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import Role
from cloud_api.web.account import Me, MeDep
from cloud_api.web.office.words import Words
from cloud_api.web.pages import known_failure, page, page_language
from shared.i18n import Translator, translator

__all__ = [
    "AdminDesk",
    "Desk",
    "FormErrors",
    "Listing",
    "StaffDesk",
    "back",
    "desk_page",
    "engine_of",
    "listing",
    "typed_date",
]

# What a finished form may announce on the page it lands on (the catalog's words for each code).
DONE = frozenset(
    {
        "card_given",
        "card_now_blocked",
        "card_replaced",
        "consent_recorded",
        "consent_unchanged",
        "photo_saved",
        "photo_removed",
        "roster_imported",
        "account_disabled",
        "account_enabled",
        "password_reset_made",
        "second_factor_reset",
        "pin_saved",
        "top_up_recorded",
        "correction_recorded",
        "pin_withdrawn",
        "meal_rules_saved",
        "dish_saved",
        "set_meal_saved",
        "week_copied",
        "comment_hidden",
        "comment_shown",
        "wallet_resent",
        "wallet_resent_all",
        "iin_corrected",
        "iin_unchanged",
        "alert_acknowledged",
        "alert_already_acknowledged",
        "webhook_paused",
        "webhook_resumed",
        "webhook_removed",
        "integration_revoked",
        "school_day_saved",
    }
)


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a typed date may name (see typed_date)


def typed_date(text: str) -> date | None:
    """A date as a form sends it (a date field: 2026-09-03) or as a person types it (03.09.2026); None else.

    Only years 2000 to 2100: Python's dates run from year 1 to 9999, and a page that steps a week back
    or on from 0001-01-01 or 31.12.9999 would overflow (a 500); no school's day lies outside them.
    """
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            found = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return found if FIRST_YEAR <= found.year <= LAST_YEAR else None
    return None


def engine_of(request: Request) -> Engine:
    """The cloud's database engine."""
    return request.app.state.engine  # type: ignore[no-any-return]


def back(url: str) -> RedirectResponse:
    """After a form: on to ``url`` (303, so that reloading does not post again)."""
    return RedirectResponse(url, status_code=303)


@dataclass(frozen=True)
class NavItem:
    """One place in the office's navigation."""

    href: str
    label: str
    current: bool


@dataclass(frozen=True)
class Desk:
    """The signed-in staff member at one school's office, and the language they read."""

    request: Request
    me: Me
    school_id: str
    admin: bool
    _: Translator

    @property
    def actor(self) -> str:
        """How the audit journal names the staff member."""
        return self.me.principal.actor

    @property
    def base(self) -> str:
        """The address of this school's office."""
        return f"/office/schools/{self.school_id}"

    @property
    def engine(self) -> Engine:
        """The cloud's database engine."""
        return engine_of(self.request)

    def nav(self) -> list[NavItem]:
        """The places this account may open, the current one marked."""
        _ = self._
        grants = self.me.principal.grants
        places: list[tuple[str, str]] = []
        if self.admin or (Role.CANTEEN_STAFF, self.school_id) in grants:
            places = [("/today", _("Today")), ("/canteen", _("Canteen"))]
            places += [("/canteen/menu", _("Menu planner"))]
            places.append(("/ratings", _("Meal ratings")))
        if self.admin:
            places += [
                ("/people", _("People")),
                ("/roster", _("Roster import")),
                ("/consent", _("Consents")),
                ("/school-day", _("School day")),
                ("/accounts", _("Accounts")),
                ("/journal", _("Audit journal")),
                ("/reports", _("Reports")),
                ("/export", _("Export")),
                ("/money", _("Money")),
                ("/wallet", _("Social Wallet")),
                ("/integrations", _("Outside systems")),
            ]
        if self.admin or (Role.SCHOOL_IT, self.school_id) in grants:
            # The school's IT contact: the gateway, its readers and their alerts.
            places += [("/fleet", _("Gateway and readers")), ("/alerts", _("Alerts"))]
        here = self.request.url.path
        # The longest place the address is in is the current one (the menu planner is in the canteen).
        inside = [p for p, _label in places if here == self.base + p or here.startswith(self.base + p + "/")]
        current = max(inside, key=len, default=None)
        return [NavItem(self.base + p, label, p == current) for p, label in places]

    def page(self, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The office page ``name`` under ``title``, with the navigation and a flash message if any."""
        return desk_page(self, name, title=title, status=status, **context)


def desk_page(desk: Any, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The office page ``name`` of any desk (a school's, a region's, the deployment's) under ``title``,
    with the desk's navigation and the flash message the address names, if any."""
    answer = page(
        desk.request,
        name,
        desk._,
        door="office",
        door_path="office",
        signed_in=True,
        home="/office/",
        desk=desk,
        words=Words(desk._),
        title=title,
        done=known_failure(desk.request.query_params.get("done"), DONE),
        **context,
    )
    answer.status_code = status
    return answer


def _desk(request: Request, me: Me, school_id: str, *roles: Role) -> Desk:
    grants = me.principal.grants
    if not any((role, school_id) in grants for role in roles):
        raise DomainError("not_allowed")
    admin = (Role.SCHOOL_ADMIN, school_id) in grants
    return Desk(request, me, school_id, admin, translator(page_language(request)))


SchoolId = Annotated[str, Path(min_length=1, max_length=64)]


def _admin_desk(request: Request, me: MeDep, school_id: SchoolId) -> Desk:
    return _desk(request, me, school_id, Role.SCHOOL_ADMIN)


def _staff_desk(request: Request, me: MeDep, school_id: SchoolId) -> Desk:
    return _desk(request, me, school_id, Role.SCHOOL_ADMIN, Role.CANTEEN_STAFF)


def _watch_desk(request: Request, me: MeDep, school_id: SchoolId) -> Desk:
    # The gateway's health and alerts: the school's administrator and its IT contact.
    return _desk(request, me, school_id, Role.SCHOOL_ADMIN, Role.SCHOOL_IT)


AdminDesk = Annotated[Desk, Depends(_admin_desk)]
StaffDesk = Annotated[Desk, Depends(_staff_desk)]
WatchDesk = Annotated[Desk, Depends(_watch_desk)]


@dataclass
class FormErrors:
    """What is wrong with a form, field by field, in the reader's language."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        """Keep the first message of each field (the one to fix first), as a sentence."""
        self.by_field.setdefault(name, message[:1].upper() + message[1:])

    def __bool__(self) -> bool:
        return bool(self.by_field)


@dataclass(frozen=True)
class Listing:
    """A list page's place in its rows: sort, direction, page; and the filters that made it."""

    path: str
    filters: dict[str, str]
    sort: str
    descending: bool
    page: int
    per_page: int
    total: int = 0

    @property
    def offset(self) -> int:
        """How many rows come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        """How many pages the rows fill (at least one)."""
        return max(1, -(-self.total // self.per_page))

    def counted(self, total: int) -> Listing:
        """The same place, knowing how many rows match in all."""
        return Listing(self.path, self.filters, self.sort, self.descending, self.page, self.per_page, total)

    def last_page(self) -> Listing:
        """The place of the last page, for an address past the end (a list that shrank since)."""
        return Listing(self.path, self.filters, self.sort, self.descending, self.pages, self.per_page, self.total)

    def url(self, **changes: Any) -> str:
        """This list's address with ``changes`` (``sort=``, ``page=``, ``desc=``), the filters kept."""
        params = {k: v for k, v in self.filters.items() if v}
        if self.sort:
            params["sort"] = self.sort
        if self.descending:
            params["desc"] = "1"
        if self.page > 1:
            params["page"] = str(self.page)
        for key, value in changes.items():
            if value in (None, "", False) or (key == "page" and value == 1):
                params.pop(key, None)
            else:
                params[key] = "1" if value is True else str(value)
        return self.path + ("?" + urlencode(params) if params else "")

    def sorted_by(self, key: str) -> str:
        """The address that sorts by ``key`` (the other way round when it already does), from page one."""
        return self.url(sort=key, desc=self.sort == key and not self.descending, page=1)

    def export(self, kind: str) -> str:
        """The address of every row of this list (not just this page) as a ``kind`` file (csv or xlsx)."""
        params = {k: v for k, v in self.filters.items() if v}
        if self.sort:
            params["sort"] = self.sort
        if self.descending:
            params["desc"] = "1"
        params["format"] = kind
        return f"{self.path}?" + urlencode(params)


def listing(request: Request, filters: dict[str, str], sorts: tuple[str, ...], *, per_page: int = 50) -> Listing:
    """The list's place from the address: an unknown sort or a page out of range falls back, never fails."""
    q = request.query_params
    sort = q.get("sort") if q.get("sort") in sorts else sorts[0]
    try:
        number = max(1, min(int(q.get("page", "1")), 100_000))
    except ValueError:
        number = 1
    return Listing(request.url.path, filters, sort or "", q.get("desc") == "1", number, per_page)
