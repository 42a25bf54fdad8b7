"""The canteen's day in the office, for its staff and the administrator; a cook's own canteen PIN.

    GET  /office/schools/{school}/canteen        today's set meals, and who has eaten, class by class
                                                 (its other pages: canteen_dishes, canteen_menu, canteen_rules,
                                                 canteen_pins_page)
    POST /office/schools/{school}/canteen/pin    set one's own PIN for the canteen screen's manual entry

The PIN is a staff member's own: it is set for the roster's staff record the account stands for
(the administrator links the account to it when making it), hashed, and reaches the canteen screen
with the gateway's next roster pull, so that manual entry works there even without the Internet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.services.canteen_pins import PIN_PATTERN, pins_of, set_canteen_pin
from cloud_api.services.menus import menu_days
from cloud_api.services.people import find_person
from cloud_api.services.today import served_today
from cloud_api.web.office import canteen_forms
from cloud_api.web.office.console import Desk, FormErrors, StaffDesk, back
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _page(desk: Desk, errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    today = local_date(datetime.now(UTC))
    account = desk.me.principal.account
    with desk.engine.connect() as conn:
        menu = menu_days(conn, desk.school_id, today, 1)
        served = served_today(conn, desk.school_id, today)
        me = find_person(conn, desk.school_id, account.person_id) if account and account.person_id else None
        has_pin = me is not None and me["id"] in pins_of(conn, desk.school_id, [me["id"]])
    by_class: dict[str, list[object]] = {}
    for meal in served:
        by_class.setdefault(meal.class_name, []).append(meal)
    return canteen_forms.canteen_page(
        desk,
        "office/canteen.html",
        title=desk._("Canteen"),
        status=status,
        today=today,
        menu=menu,
        by_class=by_class,
        served=len(served),
        me=me if me is not None and me["role"] == "staff" else None,
        has_pin=has_pin,
        errors=errors or FormErrors(),
    )


@router.get("/office/schools/{school_id}/canteen", response_class=HTMLResponse)
def canteen_page(desk: StaffDesk) -> HTMLResponse:
    """Today's set meals and who has eaten; the staff member's own PIN."""
    return _page(desk)


@router.post(
    "/office/schools/{school_id}/canteen/pin", dependencies=[Depends(require_same_origin)], response_model=None
)
def pin_form(
    desk: StaffDesk,
    pin: Annotated[str, Form(max_length=64)] = "",
    pin_again: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Set one's own canteen PIN (4 to 8 digits, typed twice)."""
    errors = FormErrors()
    account = desk.me.principal.account
    if account is None or account.person_id is None:
        errors.add("pin", desk._("Your account is not linked to your staff record: ask the school administrator."))
    elif not PIN_PATTERN.fullmatch(pin):
        errors.add("pin", desk._("A PIN is 4 to 8 digits."))
    elif pin != pin_again:
        errors.add("pin_again", desk._("The two PINs differ: type the same PIN twice."))
    if errors or account is None or account.person_id is None:
        return _page(desk, errors, 422)
    with desk.engine.begin() as conn:
        set_canteen_pin(conn, desk.school_id, account.person_id, pin, actor=desk.actor)
    return back(f"{desk.base}/canteen?done=pin_saved")
