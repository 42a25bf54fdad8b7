"""A child's absences in the parent app (issue 21): report the child sick or away, withdraw a report.

    GET  /app/children/{id}/absences                     the form and the child's reported days
    POST /app/children/{id}/absences                     report days away (from, to, reason, note)
    POST /app/children/{id}/absences/{report}/withdraw   withdraw a report whose days are all to come

Reported days are excused in the school's attendance report and табель, and no "not at school"
notice goes out for them (:mod:`cloud_api.services.absences`). The form follows the GOV.UK pattern:
an error summary on top, each message beside its field, what was typed shown again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.absences import (
    MAX_DAYS,
    MAX_DAYS_BACK,
    MAX_NOTE,
    REASON_WORDS,
    REASONS,
    absences_of,
    report_absence,
    withdraw_absence,
)
from cloud_api.services.family import children_of
from cloud_api.web.office.console import FormErrors, typed_date
from cloud_api.web.pages import known_failure, page
from cloud_api.web.parent import Family, FamilyDep
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(prefix="/app", include_in_schema=False)

# Which field each refusal of the service belongs beside.
_FIELD_OF = {
    "bad_absence_reason": "reason",
    "absence_ends_before_start": "last_day",
    "absence_too_long": "last_day",
    "absence_too_far_back": "first_day",
    "absence_too_far_ahead": "first_day",
    "absence_overlaps": "first_day",
    "absence_note_too_long": "note",
}
WITHDRAW_FAILURES = frozenset({"absence_already_begun", "unknown_absence"})


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _page(
    request: Request,
    family: Family,
    child_id: UUID,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    today = local_date(now)
    with _engine(request).connect() as conn:
        found = children_of(conn, family.school_id, family.guardian_id, child_id)
        if not found:
            raise DomainError("not_found")
        reported = absences_of(conn, family.school_id, child_id, since=today - timedelta(days=MAX_DAYS_BACK))
    answer = page(
        request,
        "parent_absence.html",
        family._,
        door="parent",
        door_path="app",
        child=found[0],
        reported=reported,
        today=today,
        form=form or {"first_day": today.isoformat(), "last_day": today.isoformat(), "reason": "", "note": ""},
        errors=errors or FormErrors(),
        reasons=REASONS,
        reason_words=REASON_WORDS,
        max_days=MAX_DAYS,
        max_note=MAX_NOTE,
        failed=known_failure(request.query_params.get("failed"), WITHDRAW_FAILURES),
    )
    answer.status_code = 422 if errors else 200
    return answer


@router.get("/children/{child_id}/absences", response_class=HTMLResponse)
def absences_page(request: Request, child_id: UUID, family: FamilyDep) -> HTMLResponse:
    """The report form and the child's reported days (the last month's and those to come)."""
    return _page(request, family, child_id)


@router.post("/children/{child_id}/absences", dependencies=[Depends(require_same_origin)], response_model=None)
def absence_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    first_day: Annotated[str, Form(max_length=32)] = "",
    last_day: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Report the child away; the page again with what is wrong, field by field."""
    _ = family._
    typed = {"first_day": first_day.strip(), "last_day": last_day.strip(), "reason": reason, "note": note}
    errors = FormErrors()
    first, last = typed_date(first_day), typed_date(last_day)
    if first is None:
        errors.add("first_day", _("Give the first day the child is away, like 03.09.2026."))
    if last is None:
        errors.add("last_day", _("Give the last day the child is away, like 05.09.2026."))
    if reason not in REASONS:
        errors.add("reason", _("Choose why the child is away."))
    if errors or first is None or last is None:
        return _page(request, family, child_id, typed, errors)
    try:
        with _engine(request).begin() as conn:
            report_absence(
                conn,
                family.school_id,
                family.guardian_id,
                child_id,
                first,
                last,
                reason,
                note,
                actor=family.principal.actor,
                now=datetime.now(UTC),
            )
    except DomainError as refusal:
        if refusal.code not in _FIELD_OF:
            raise DomainError("not_found") from None  # another family's child: as if there were none
        errors.add(_FIELD_OF[refusal.code], _(refusal.code, **refusal.values))
        return _page(request, family, child_id, typed, errors)
    return RedirectResponse(f"/app/children/{child_id}/absences?saved=absence", status_code=303)


@router.post("/children/{child_id}/absences/{report_id}/withdraw", dependencies=[Depends(require_same_origin)])
def withdraw_form(request: Request, child_id: UUID, report_id: UUID, family: FamilyDep) -> Response:
    """Withdraw a report whose days are all still to come."""
    try:
        with _engine(request).begin() as conn:
            withdraw_absence(
                conn,
                family.school_id,
                family.guardian_id,
                report_id,
                actor=family.principal.actor,
                now=datetime.now(UTC),
            )
    except DomainError as refusal:
        failed = refusal.code if refusal.code in WITHDRAW_FAILURES else "unknown_absence"
        return RedirectResponse(f"/app/children/{child_id}/absences?failed={failed}", status_code=303)
    return RedirectResponse(f"/app/children/{child_id}/absences?saved=withdrawn", status_code=303)
