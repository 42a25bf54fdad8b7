"""The canteen's meal rules in the office (the school's administrator only).

    GET  /office/schools/{school}/canteen/rules    the periods by time of day, which are free, prepaid or not
    POST /office/schools/{school}/canteen/rules    new rules (each period a row; an empty row is left out)

The form checks each field and says what is wrong beside it; the contract's model
(:class:`~shared.roster_contract.MealRules`) is the last word, as for the JSON route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.services.menus import current_meal_rules, periods_by_time, set_meal_rules
from cloud_api.web.office.canteen_forms import canteen_page, typed_time
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back
from shared.contract import Identifier
from shared.roster_contract import MealPeriod, MealRules

__all__ = ["KNOWN_PERIODS", "router"]

router = APIRouter(include_in_schema=False)
KNOWN_PERIODS = ("breakfast", "lunch", "snack")  # the glossary's three; a school's own names are kept too
EMPTY_ROWS = 2  # room for new periods without JavaScript
MAX_ROWS = 8
_PERIOD_NAME: TypeAdapter[str] = TypeAdapter(Identifier)


def _is_identifier(name: str) -> bool:
    """Whether a period's name is one the contract takes (a letter or digit first, then letters, digits,
    ".", "_" or "-"): the contract's own rule, so that no name the form lets through fails in MealPeriod."""
    try:
        _PERIOD_NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def _rows_of(rules: MealRules | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if rules is not None:
        rows = [
            {
                "name": p.name,
                "starts": p.starts.strftime("%H:%M"),
                "ends": p.ends.strftime("%H:%M"),
                "free": p.name in rules.free_periods,
            }
            for p in periods_by_time(rules)
        ]
    return rows + [{"name": "", "starts": "", "ends": "", "free": False}] * EMPTY_ROWS


def _page(
    desk: Desk, rows: list[dict[str, Any]] | None = None, prepaid: bool | None = None, errors: FormErrors | None = None
) -> HTMLResponse:
    with desk.engine.connect() as conn:
        found = current_meal_rules(conn, desk.school_id)
    rules = found[0] if found else None
    names = list(KNOWN_PERIODS) + [p.name for p in rules.periods if p.name not in KNOWN_PERIODS] if rules else []
    return canteen_page(
        desk,
        "office/canteen_rules.html",
        title=desk._("Meal rules"),
        status=422 if errors else 200,
        rules=rules,
        periods=periods_by_time(rules) if rules else [],
        rows=rows if rows is not None else _rows_of(rules),
        prepaid=prepaid if prepaid is not None else bool(rules and rules.prepaid),
        names=names or list(KNOWN_PERIODS),
        errors=errors or FormErrors(),
    )


@router.get("/office/schools/{school_id}/canteen/rules", response_class=HTMLResponse)
def rules_page(desk: AdminDesk) -> HTMLResponse:
    """The meal rules in force and the form that changes them."""
    return _page(desk)


def read_rules(desk: Desk, form: dict[str, str]) -> tuple[MealRules | None, list[dict[str, Any]], FormErrors]:
    """The rules a filled form asks for, the rows as typed (to show again), and what is wrong, field by field."""
    _ = desk._
    errors = FormErrors()
    rows: list[dict[str, Any]] = []
    periods: list[MealPeriod] = []
    for i in range(MAX_ROWS):
        name = form.get(f"name_{i}", "").strip()
        starts_text, ends_text = form.get(f"starts_{i}", "").strip(), form.get(f"ends_{i}", "").strip()
        if f"name_{i}" not in form and f"starts_{i}" not in form:
            continue
        row = {"name": name, "starts": starts_text, "ends": ends_text, "free": f"free_{i}" in form}
        rows.append(row)
        if not (name or starts_text or ends_text):
            continue  # an empty row: no period
        if name not in KNOWN_PERIODS and not _is_identifier(name):
            errors.add(f"name_{i}", _("Choose the meal period."))
        starts, ends = typed_time(starts_text), typed_time(ends_text)
        if starts is None:
            errors.add(f"starts_{i}", _("Give the time it starts, like 12:30."))
        if ends is None:
            errors.add(f"ends_{i}", _("Give the time it ends, like 13:15."))
        if starts and ends and not starts < ends:
            errors.add(f"ends_{i}", _("Type an end time later than the start."))
        if any(p.name == name for p in periods):
            errors.add(f"name_{i}", _("Each meal period appears once."))
        if f"name_{i}" in errors.by_field or starts is None or ends is None or not starts < ends:
            continue
        for other in periods:
            if starts < other.ends and other.starts < ends:
                errors.add(f"starts_{i}", _("It overlaps {period}: meal periods do not overlap.", period=_(other.name)))
        periods.append(MealPeriod(name=name, starts=starts, ends=ends))
    if not periods and not errors:
        errors.add("name_0", _("Give at least one meal period."))
    if errors:
        return None, rows, errors
    free = [row["name"] for row in rows if row["free"] and row["name"]]
    try:
        rules = MealRules(periods=periods, free_periods=free, prepaid="prepaid" in form)
    except ValidationError:  # what the fields above did not catch: the rules as a whole
        errors.add("name_0", _("These meal rules do not hold together: check the times."))
        return None, rows, errors
    return rules, rows, errors


@router.post(
    "/office/schools/{school_id}/canteen/rules", dependencies=[Depends(require_same_origin)], response_model=None
)
async def rules_form(desk: AdminDesk, request: Request) -> Response:
    """New meal rules: in force at once, on the gateways from their next sync."""
    form = {k: v for k, v in (await request.form(max_fields=64)).items() if isinstance(v, str) and len(v) <= 64}
    return await run_in_threadpool(_save, desk, form)


def _save(desk: Desk, form: dict[str, str]) -> Response:
    rules, rows, errors = read_rules(desk, form)
    if rules is None:
        return _page(desk, rows, "prepaid" in form, errors)
    with desk.engine.begin() as conn:
        set_meal_rules(conn, desk.school_id, rules, actor=desk.actor)
    return back(f"{desk.base}/canteen/rules?done=meal_rules_saved")
