"""The school day in the office (the school's administrator only): when each class starts and ends.

    GET  /office/schools/{school}/school-day    the school's default day, the grace, each class's own day
    POST /office/schools/{school}/school-day    a new school day (a class left empty takes the default)

Families hear of a child not at school by the start plus the grace, and of one who leaves before the
end (:mod:`cloud_api.services.absence_notices`); until the school sets its day, neither.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.services.school_hours import (
    MAX_GRACE_MINUTES,
    ClassDay,
    SchoolHours,
    class_names,
    school_hours_of,
    set_school_hours,
)
from cloud_api.web.office.canteen_forms import typed_time
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MAX_CLASSES = 80  # a big school has some forty classes
DEFAULT_GRACE = 15


def _hhmm(day: ClassDay | None, which: str) -> str:
    return getattr(day, which).strftime("%H:%M") if day is not None else ""


def _form_of(hours: SchoolHours | None, names: list[str]) -> dict[str, Any]:
    """What the form shows for the day in force (empty fields where nothing is set)."""
    return {
        "starts": _hhmm(hours.default if hours else None, "starts"),
        "ends": _hhmm(hours.default if hours else None, "ends"),
        "grace": str(hours.grace_minutes if hours else DEFAULT_GRACE),
        "classes": [
            {
                "name": name,
                "starts": _hhmm(hours.classes.get(name) if hours else None, "starts"),
                "ends": _hhmm(hours.classes.get(name) if hours else None, "ends"),
            }
            for name in names
        ],
    }


def _page(desk: Desk, form: dict[str, Any] | None = None, errors: FormErrors | None = None) -> HTMLResponse:
    with desk.engine.connect() as conn:
        hours = school_hours_of(conn, desk.school_id)
        names = class_names(conn, desk.school_id)
    return desk.page(
        "office/school_day.html",
        title=desk._("School day"),
        status=422 if errors else 200,
        hours=hours,
        form=form if form is not None else _form_of(hours, names),
        errors=errors or FormErrors(),
        max_grace=MAX_GRACE_MINUTES,
    )


@router.get("/office/schools/{school_id}/school-day", response_class=HTMLResponse)
def school_day_page(desk: AdminDesk) -> HTMLResponse:
    """The school day in force and the form that changes it."""
    return _page(desk)


def read_school_day(desk: Desk, form: dict[str, str]) -> tuple[SchoolHours | None, dict[str, Any], FormErrors]:
    """The school day a filled form asks for, the form as typed (to show again), and what is wrong."""
    _ = desk._
    errors = FormErrors()
    typed: dict[str, Any] = {
        "starts": form.get("starts", "").strip(),
        "ends": form.get("ends", "").strip(),
        "grace": form.get("grace", "").strip(),
        "classes": [],
    }

    def day_of(prefix: str, starts_text: str, ends_text: str) -> ClassDay | None:
        starts, ends = typed_time(starts_text), typed_time(ends_text)
        if starts is None:
            errors.add(f"{prefix}starts", _("Give the time the school day starts, like 08:00."))
        if ends is None:
            errors.add(f"{prefix}ends", _("Give the time the school day ends, like 14:30."))
        if starts and ends and not starts < ends:
            errors.add(f"{prefix}ends", _("Type an end time later than the start."))
        return ClassDay(starts, ends) if starts and ends and starts < ends else None

    default = day_of("", typed["starts"], typed["ends"])
    grace = int(typed["grace"]) if typed["grace"].isdigit() else None
    if grace is None or grace > MAX_GRACE_MINUTES:
        errors.add("grace", _("Give the grace in whole minutes, from 0 to {limit}.", limit=MAX_GRACE_MINUTES))
    classes: dict[str, ClassDay] = {}
    for i in range(MAX_CLASSES):
        name = form.get(f"class_{i}", "").strip()
        if not name:
            continue
        starts_text, ends_text = form.get(f"starts_{i}", "").strip(), form.get(f"ends_{i}", "").strip()
        typed["classes"].append({"name": name, "starts": starts_text, "ends": ends_text})
        if not (starts_text or ends_text):
            continue  # the default's day
        day = day_of(f"c{i}_", starts_text, ends_text)
        if day is not None:
            classes[name] = day
    if errors or default is None or grace is None:
        return None, typed, errors
    return SchoolHours(default, grace, classes), typed, errors


@router.post("/office/schools/{school_id}/school-day", dependencies=[Depends(require_same_origin)], response_model=None)
async def school_day_form(desk: AdminDesk, request: Request) -> Response:
    """A new school day: the absence notices follow it from the next minute."""
    form = {k: v for k, v in (await request.form(max_fields=256)).items() if isinstance(v, str) and len(v) <= 64}
    return await run_in_threadpool(_save, desk, form)


def _save(desk: Desk, form: dict[str, str]) -> Response:
    hours, typed, errors = read_school_day(desk, form)
    if hours is None:
        return _page(desk, typed, errors)
    with desk.engine.begin() as conn:
        set_school_hours(conn, desk.school_id, hours, actor=desk.actor, now=datetime.now(UTC))
    return back(f"{desk.base}/school-day?done=school_day_saved")
