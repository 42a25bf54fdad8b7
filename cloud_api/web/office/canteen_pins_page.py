"""Canteen PINs in the office: the administrator sets or withdraws each staff member's PIN.

    GET  /office/schools/{school}/canteen/pins                      the staff (the canteen's first), PIN or not
    POST /office/schools/{school}/canteen/pins/{person}             set a PIN (typed twice)
    POST /office/schools/{school}/canteen/pins/{person}/withdraw    withdraw it

Each change is journalled (:func:`~cloud_api.services.canteen_pins.set_canteen_pin`) and reaches
the canteen screen with the gateway's next roster pull.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.canteen_pins import PIN_PATTERN, set_canteen_pin, staff_pins
from cloud_api.web.office.canteen_forms import canteen_page
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
Pin = Annotated[str, Form(max_length=64)]


def _page(desk: Desk, person: UUID | None = None, errors: FormErrors | None = None) -> HTMLResponse:
    with desk.engine.connect() as conn:
        staff = staff_pins(conn, desk.school_id)
    return canteen_page(
        desk,
        "office/canteen_pins.html",
        title=desk._("Canteen PINs"),
        status=422 if errors else 200,
        staff=staff,
        failed=person,
        errors=errors or FormErrors(),
    )


@router.get("/office/schools/{school_id}/canteen/pins", response_class=HTMLResponse)
def pins_page(desk: AdminDesk) -> HTMLResponse:
    """The school's staff and whether each has a canteen PIN."""
    return _page(desk)


@router.post("/office/schools/{school_id}/canteen/pins/{person_id}", dependencies=_checked, response_model=None)
async def pin_form(desk: AdminDesk, person_id: UUID, pin: Pin = "", pin_again: Pin = "") -> Response:
    """Set a staff member's PIN (4 to 8 digits, typed twice); hashing takes a good part of a second."""
    errors = FormErrors()
    if not PIN_PATTERN.fullmatch(pin):
        errors.add(f"pin-{person_id}", desk._("A PIN is 4 to 8 digits."))
    elif pin != pin_again:
        errors.add(f"pin_again-{person_id}", desk._("The two PINs differ: type the same PIN twice."))
    if errors:
        return await run_in_threadpool(_page, desk, person_id, errors)
    return await run_in_threadpool(_set, desk, person_id, pin)


@router.post(
    "/office/schools/{school_id}/canteen/pins/{person_id}/withdraw", dependencies=_checked, response_model=None
)
def withdraw_form(desk: AdminDesk, person_id: UUID) -> Response:
    """Withdraw a staff member's PIN: the canteen screen refuses it from the gateway's next sync."""
    return _set(desk, person_id, None)


def _set(desk: Desk, person_id: UUID, pin: str | None) -> Response:
    try:
        with desk.engine.begin() as conn:
            set_canteen_pin(conn, desk.school_id, person_id, pin, actor=desk.actor)
    except DomainError as refused:
        if refused.code != "unknown_person":
            raise
        errors = FormErrors()
        errors.add(f"pin-{person_id}", desk._("This staff member is not of this school, or has left."))
        return _page(desk, person_id, errors)
    return back(f"{desk.base}/canteen/pins?done={'pin_saved' if pin else 'pin_withdrawn'}")
