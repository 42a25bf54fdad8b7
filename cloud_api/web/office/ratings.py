"""What families and students think of the canteen (§33-1.8): the school reads its meal ratings.

    GET  /office/schools/{school}/ratings?month=&day=&page=      a month (or one day of it): averages,
                                                                 counts and the stars' distribution by
                                                                 day, period and dish; the comments; the
                                                                 trend over twelve months
    GET  /office/schools/{school}/ratings?month=&format=csv|xlsx every rating of the month, as a file
    GET  /office/schools/{school}/ratings/{rating}/hide|show     check first; POST hides (shows) the comment

The administrator and the canteen's staff read it; only the administrator sees who rated and hides
a comment (the stars stay in every average), and the staff never see a hidden comment nor a name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import meal_ratings
from cloud_api.services.accounts import logins_of
from cloud_api.services.audit import account_of_actor
from cloud_api.services.menus import current_dishes
from cloud_api.services.ratings import (
    Comment,
    month_after,
    month_ratings,
    rating_comments,
    rating_rows,
    ratings_trend,
    set_comment_hidden,
)
from cloud_api.web.office.console import AdminDesk, Desk, Listing, StaffDesk, back, listing, typed_date
from cloud_api.web.office.downloads import personal_table_file, table_file
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
COMMENTS_PER_PAGE = 30
MONTH = r"^\d{4}-\d{2}$"


def _month_of(text: str, today: date) -> date:
    """The month of the address (``2026-11`` as a month field sends it, or ``11.2026`` as a person types
    it), this month when none or nonsense (never an error page), and never one still to come."""
    chosen = today.replace(day=1)
    for pattern in ("%Y-%m", "%m.%Y"):
        try:
            chosen = datetime.strptime(text.strip(), pattern).date()
            break
        except ValueError:
            continue
    return max(date(2000, 1, 1), min(chosen, today.replace(day=1)))


def _day_of(text: str, month: date) -> date | None:
    """The day of the address (``2026-11-20`` or ``20.11.2026``), when it is a day of the chosen month;
    else the whole month."""
    day = typed_date(text)
    return day if day is not None and day.replace(day=1) == month else None


class Place:
    """Where the page stands: its month, perhaps a day, the comments' page; its addresses."""

    def __init__(self, desk: Desk, month: date, day: date | None, number: int) -> None:
        self.base = f"{desk.base}/ratings"
        self.month, self.day, self.page = month, day, number
        self.today = local_date(datetime.now(UTC))

    def url(self, month: date | None = None, day: date | Literal[False] | None = False, **more: Any) -> str:
        """This page's address for another month or day (``day=None``: the whole month)."""
        chosen = month or self.month
        params = {"month": chosen.strftime("%Y-%m")}
        on = self.day if day is False else day
        if on is not None and on.replace(day=1) == chosen:
            params["day"] = on.isoformat()
        params |= {k: str(v) for k, v in more.items() if v}
        return f"{self.base}?{urlencode(params)}"

    @property
    def previous(self) -> date:
        """The month before."""
        return (self.month - timedelta(days=1)).replace(day=1)

    @property
    def following(self) -> date | None:
        """The month after, unless it is still to come."""
        after = month_after(self.month)
        return after if after <= self.today else None


def _stars(_: Any) -> Any:
    def average(value: float | None) -> str:
        """A mean number of stars in the reader's language (4,3), a dash without any."""
        return "—" if value is None else format_decimal(value, "0.0", locale=_.language)

    return average


def _dish_names(desk: Desk) -> dict[str, str]:
    with desk.engine.connect() as conn:
        dishes = current_dishes(conn, desk.school_id)
    lang = desk._.language
    return {str(d.id): d.names.get(lang) or d.names.get("ru") or next(iter(d.names.values())) for d in dishes}


def _who(desk: Desk, comments: list[Comment]) -> dict[str, str]:
    """The login of each administrator who hid a comment shown (the journal's way of naming them)."""
    accounts = {a for c in comments if c.hidden_by and (a := account_of_actor(c.hidden_by))}
    if not accounts:
        return {}
    with desk.engine.connect() as conn:
        logins = logins_of(conn, accounts)
    return {c.hidden_by: logins.get(account_of_actor(c.hidden_by), c.hidden_by) for c in comments if c.hidden_by}


def _file(desk: Desk, place: Place, kind: str) -> Response:
    _ = desk._
    names = _dish_names(desk)
    roles = {"guardian": _("Parent or guardian"), "student": _("Pupil")}
    headings = [_("Date"), _("Meal period"), _("Dishes"), _("Stars"), _("Who rated"), _("Comment")]
    if desk.admin:
        headings += [_("Full name"), _("Child"), _("Class"), _("Comment hidden")]
    first = place.day or place.month
    after = place.day + timedelta(days=1) if place.day else month_after(place.month)
    with desk.engine.connect() as conn:
        rows = list(rating_rows(conn, desk.school_id, first, after, names=desk.admin, with_hidden=desk.admin))

    def cells(c: Comment) -> list[Any]:
        line: list[Any] = [
            c.day,
            _(c.period),
            ", ".join(names.get(d, "") for d in c.dishes),
            c.stars,
            roles.get(c.rater_role, c.rater_role),
            c.comment or "",
        ]
        if desk.admin:
            line += [c.rater or "", c.child or "", c.child_class or "", _("yes") if c.hidden_at else ""]
        return line

    name = f"ratings-{desk.school_id}-{(place.day or place.month).isoformat()[: 10 if place.day else 7]}"
    if desk.admin:  # the administrator's file names the raters and their children
        return personal_table_file(desk, kind, name, headings, (cells(c) for c in rows))
    return table_file(kind, name, headings, (cells(c) for c in rows))


@router.get("/office/schools/{school_id}/ratings", response_class=HTMLResponse)
def ratings_page(
    desk: StaffDesk,
    month: Annotated[str, Query(max_length=32)] = "",
    day: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """The ratings of a month (this one unless chosen) or of one of its days, and their trend."""
    today = local_date(datetime.now(UTC))
    picked = typed_date(day)
    # A day alone (a link from elsewhere) brings its month along.
    chosen = _month_of(month or (picked.strftime("%Y-%m") if picked else ""), today)
    on = _day_of(day, chosen)
    pages: Listing = listing(
        desk.request,
        {"month": chosen.strftime("%Y-%m"), "day": on.isoformat() if on else ""},
        ("",),
        per_page=COMMENTS_PER_PAGE,
    )
    place = Place(desk, chosen, on, pages.page)
    if format:
        return _file(desk, place, format)
    with desk.engine.connect() as conn:
        counted = month_ratings(conn, desk.school_id, chosen, on)
        comments, total = rating_comments(
            conn,
            desk.school_id,
            counted.first,
            counted.after,
            names=desk.admin,
            with_hidden=desk.admin,
            limit=pages.per_page,
            offset=pages.offset,
        )
        pages = pages.counted(total)
        if comments == [] and total and pages.page > pages.pages:  # a page past the end: the last one
            pages = pages.last_page()
            comments, total = rating_comments(
                conn,
                desk.school_id,
                counted.first,
                counted.after,
                names=desk.admin,
                with_hidden=desk.admin,
                limit=pages.per_page,
                offset=pages.offset,
            )
        trend = ratings_trend(conn, desk.school_id, chosen)
    month_days = []
    d = chosen
    while d < month_after(chosen) and d <= today:
        month_days.append(d)
        d += timedelta(days=1)
    _ = desk._
    title = _("Meal ratings")
    return desk.page(
        "office/ratings.html",
        title=title,
        place=place,
        counted=counted,
        comments=comments,
        pages=pages,
        trend=trend,
        month_days=month_days,
        dish_names=_dish_names(desk) if comments else {},
        hidden_by=_who(desk, comments),
        average=_stars(_),
        roles={"guardian": _("Parent or guardian"), "student": _("Pupil")},
    )


def _rating(desk: Desk, rating_id: UUID) -> Any:
    with desk.engine.connect() as conn:
        row = conn.execute(
            select(meal_ratings).where(meal_ratings.c.school_id == desk.school_id, meal_ratings.c.id == rating_id)
        ).one_or_none()
    if row is None:
        raise DomainError("unknown_rating")
    return row


def _confirm(desk: AdminDesk, rating_id: UUID, hide: bool, month: str, day: str, page: str) -> HTMLResponse:
    row = _rating(desk, rating_id)
    place = Place(desk, row.day.replace(day=1), None, 1)
    back_to = place.url(
        month=_month_of(month, place.today), day=_day_of(day, _month_of(month, place.today)) or None, page=page
    )
    _ = desk._
    return desk.page(
        "office/rating_confirm.html",
        title=_("Hide the comment?") if hide else _("Show the comment again?"),
        rating=row,
        hide=hide,
        action=f"{desk.base}/ratings/{rating_id}/{'hide' if hide else 'show'}?" + urlencode({"back": back_to}),
        cancel=back_to,
        roles={"guardian": _("Parent or guardian"), "student": _("Pupil")},
    )


@router.get("/office/schools/{school_id}/ratings/{rating_id}/hide", response_class=HTMLResponse)
def hide_page(
    desk: AdminDesk,
    rating_id: UUID,
    month: Annotated[str, Query(max_length=32)] = "",
    day: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[str, Query(max_length=6)] = "",
) -> HTMLResponse:
    """Check before hiding a comment: its words, and that the stars still count."""
    return _confirm(desk, rating_id, True, month, day, page)


@router.get("/office/schools/{school_id}/ratings/{rating_id}/show", response_class=HTMLResponse)
def show_page(
    desk: AdminDesk,
    rating_id: UUID,
    month: Annotated[str, Query(max_length=32)] = "",
    day: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[str, Query(max_length=6)] = "",
) -> HTMLResponse:
    """Check before showing a hidden comment again."""
    return _confirm(desk, rating_id, False, month, day, page)


def _moderate(desk: Desk, rating_id: UUID, hide: bool, back_to: str) -> Response:
    with desk.engine.begin() as conn:
        set_comment_hidden(conn, desk.school_id, rating_id, hide, actor=desk.actor)
    # Back to the page it was hidden from: only an address of this page, never one from elsewhere.
    target = back_to if back_to.startswith(f"{desk.base}/ratings?") else f"{desk.base}/ratings"
    done = "comment_hidden" if hide else "comment_shown"
    return back(f"{target}&done={done}" if "?" in target else f"{target}?done={done}")


@router.post("/office/schools/{school_id}/ratings/{rating_id}/hide", dependencies=_checked, response_model=None)
def hide_form(
    desk: AdminDesk, rating_id: UUID, back_to: Annotated[str, Query(alias="back", max_length=300)] = ""
) -> Response:
    """Hide a comment (its stars still count); journalled."""
    return _moderate(desk, rating_id, True, back_to)


@router.post("/office/schools/{school_id}/ratings/{rating_id}/show", dependencies=_checked, response_model=None)
def show_form(
    desk: AdminDesk, rating_id: UUID, back_to: Annotated[str, Query(alias="back", max_length=300)] = ""
) -> Response:
    """Show a hidden comment again; journalled."""
    return _moderate(desk, rating_id, False, back_to)
