"""The canteen's menu planner in the office (the administrator and the canteen's staff).

    GET  /office/schools/{school}/canteen/menu?week=               a week at a glance: days × periods (by time)
    GET  /office/schools/{school}/canteen/menu/{day}/{period}      the form of one set meal
    POST /office/schools/{school}/canteen/menu/{day}/{period}      its dishes and price (the dishes' sum unless given)
    GET  /office/schools/{school}/canteen/menu/copy?from=&to=      what copying a week would do, to confirm
    POST /office/schools/{school}/canteen/menu/copy                copy it

A set meal whose every dish holds an allergen is marked: a child banned from it would have nothing
to eat, and the page says how many of the school's children are.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.menu_week import copy_plan, copy_week, menu_week, monday_of
from cloud_api.services.menus import plan_set_meal
from cloud_api.web.office.amounts import typed_tenge
from cloud_api.web.office.canteen_dishes import dish_name, price_refused, refused_status
from cloud_api.web.office.canteen_forms import canteen_page
from cloud_api.web.office.console import Desk, FormErrors, StaffDesk, back, typed_date
from shared.contract import Identifier
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
Day = Annotated[str, Query(max_length=20)]


def _week_of(text: str) -> date:
    return monday_of(typed_date(text) or local_date(datetime.now(UTC)))


def day_label(desk: Desk, day: date) -> str:
    """A day as the planner heads it: its weekday and date ("понедельник, 07.12.2026")."""
    return f"{format_date(day, 'EEEE', locale=desk._.language)}, {desk._.date(day)}"


@router.get("/office/schools/{school_id}/canteen/menu", response_class=HTMLResponse)
def menu_page(desk: StaffDesk, week: Day = "") -> HTMLResponse:
    """A week's set meals by day and period, the gaps an allergic child would fall into marked."""
    monday = _week_of(week)
    with desk.engine.connect() as conn:
        planned = menu_week(conn, desk.school_id, monday)
    days = [d for d in planned.days if d.weekday() < 6 or any(k[0] == d for k in planned.cells)]
    return canteen_page(
        desk,
        "office/canteen_menu.html",
        title=desk._("Menu planner"),
        week=planned,
        days=[(d, day_label(desk, d)) for d in days],
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        dish_name=dish_name,
        today=local_date(datetime.now(UTC)),
    )


def _set_meal_page(
    desk: Desk,
    day: date,
    period: str,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 422,
) -> HTMLResponse:
    with desk.engine.connect() as conn:
        planned = menu_week(conn, desk.school_id, day)
    if period not in {p.name for p in planned.periods}:
        raise DomainError("unknown_period")
    entry = planned.cells.get((day, period))
    if form is None:
        form = {
            "dishes": [str(d.id) for d in entry.dishes] if entry else [],
            "price": "" if entry is None else _tenge_text(entry.meal.price_tiyn),
        }
    return canteen_page(
        desk,
        "office/canteen_set_meal.html",
        title=_capitalised(desk._("{period}, {day}", period=desk._(period), day=day_label(desk, day))),
        status=status if errors else 200,
        day=day,
        period=period,
        entry=entry,
        gaps=planned.gaps.get((day, period), []),
        dishes=planned.dishes,
        dish_name=dish_name,
        form=form,
        errors=errors or FormErrors(),
        week=monday_of(day).isoformat(),
    )


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]  # "обед, понедельник" heads a page as "Обед, понедельник"


def _tenge_text(tiyn: int) -> str:
    return f"{tiyn // 100}" + (f",{tiyn % 100:02d}" if tiyn % 100 else "")


def _day(text: str) -> date:
    found = typed_date(text)
    if found is None:
        raise DomainError("not_found")
    return found


@router.get("/office/schools/{school_id}/canteen/menu/{day}/{period}", response_class=HTMLResponse)
def set_meal_page(desk: StaffDesk, day: Annotated[str, Path(max_length=20)], period: Identifier) -> HTMLResponse:
    """The form of one day's set meal of one period."""
    return _set_meal_page(desk, _day(day), period)


@router.post("/office/schools/{school_id}/canteen/menu/{day}/{period}", dependencies=_checked, response_model=None)
def set_meal_form(
    desk: StaffDesk,
    day: Annotated[str, Path(max_length=20)],
    period: Identifier,
    dishes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default
    price: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Set the set meal: its dishes, and its price (their sum when left empty)."""
    when = _day(day)
    errors = FormErrors()
    form = {"dishes": dishes[:40], "price": price}
    chosen: list[UUID] = []
    for text in dishes[:40]:
        try:
            chosen.append(UUID(text))
        except ValueError:
            errors.add("dishes", desk._("Choose dishes from the list."))
    if when < local_date(datetime.now(UTC)) and not desk.admin:
        # A past day's menu prices the meals served that day: the administrator enters a forgotten one.
        errors.add("dishes", desk._("This day is past: only the school administrator enters its menu."))
    elif not chosen:
        errors.add("dishes", desk._("Choose at least one dish."))
    elif len(chosen) > 20:
        errors.add("dishes", desk._("A set meal has at most 20 dishes."))
    price_tiyn = None
    if price.strip() and not desk.admin:  # only a forged form: the cook's page has no price field
        errors.add("price", price_refused(desk._))
    elif price.strip():
        price_tiyn = typed_tenge(price)
        if price_tiyn is None:
            errors.add("price", desk._("Give the price in tenge, like 700 or 700,50."))
    if not errors:
        try:
            with desk.engine.begin() as conn:
                plan_set_meal(conn, desk.school_id, when, period, chosen, price_tiyn, actor=desk.actor)
        except DomainError as refused:
            if refused.code == "unknown_dish":
                errors.add("dishes", desk._("Choose dishes from the list."))
            else:
                raise
    if errors:
        return _set_meal_page(desk, when, period, form, errors, refused_status(desk, errors))
    return back(f"{desk.base}/canteen/menu?week={monday_of(when).isoformat()}&done=set_meal_saved")


def _copy_page(desk: Desk, source: date, target: date, errors: FormErrors | None = None) -> HTMLResponse:
    with desk.engine.connect() as conn:
        plan = copy_plan(conn, desk.school_id, source, target)
    return canteen_page(
        desk,
        "office/canteen_copy.html",
        title=desk._("Copy a week"),
        status=422 if errors else 200,
        source=monday_of(source),
        target=monday_of(target),
        copied=len(plan.meals),
        overwritten=plan.overwritten,
        errors=errors or FormErrors(),
    )


@router.get("/office/schools/{school_id}/canteen/menu/copy", response_class=HTMLResponse)
def copy_page(
    desk: StaffDesk,
    source: Annotated[str, Query(alias="from", max_length=20)] = "",
    target: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> HTMLResponse:
    """What copying a week onto another would do: how many set meals, how many replace one planned."""
    to = _week_of(target)
    return _copy_page(desk, typed_date(source) or to - timedelta(days=7), to)


@router.post("/office/schools/{school_id}/canteen/menu/copy", dependencies=_checked, response_model=None)
def copy_form(
    desk: StaffDesk,
    source: Annotated[str, Form(alias="from", max_length=20)] = "",
    target: Annotated[str, Form(alias="to", max_length=20)] = "",
) -> Response:
    """Copy the week: same weekday, period, dishes and price; what was there is replaced."""
    first, second = typed_date(source), typed_date(target)
    errors = FormErrors()
    if first is None:
        errors.add("from", desk._("Give the week to copy from, like 07.12.2026."))
    if second is None:
        errors.add("to", desk._("Give the week to copy to, like 14.12.2026."))
    elif first is not None and monday_of(first) == monday_of(second):
        errors.add("to", desk._("Choose another week than the one copied."))
    today = local_date(datetime.now(UTC))
    if first is None or second is None or errors:
        return _copy_page(desk, first or today, second or today, errors)
    try:
        with desk.engine.begin() as conn:
            copy_week(conn, desk.school_id, first, second, actor=desk.actor, today=today)
    except DomainError as refused:
        if refused.code != "day_in_past":
            raise
        errors.add("to", desk._("These days are past: their meals keep their price. Choose a week from today on."))
        return _copy_page(desk, first, second, errors)
    return back(f"{desk.base}/canteen/menu?week={monday_of(second).isoformat()}&done=week_copied")
