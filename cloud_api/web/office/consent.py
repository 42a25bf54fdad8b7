"""Consent in the office (§33-1.1): the overview by class, and a consent given on paper recorded.

    GET  /office/schools/{school}/consent                 each class: given, withdrawn, never asked
    POST /office/schools/{school}/people/{id}/consent     record what a guardian signed on paper

A paper consent is the guardian's, recorded by the staff member: the journal names both, and the
guardian's app shows that it was given on paper and its reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.consent import Paper, consent_overview, set_consent
from cloud_api.web.office.console import AdminDesk, FormErrors, back, typed_date
from cloud_api.web.office.downloads import table_file
from cloud_api.web.office.people import person_page
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]


@router.get("/office/schools/{school_id}/consent", response_class=HTMLResponse)
def consent_page(desk: AdminDesk, format: Annotated[Literal["", "csv", "xlsx"], Query()] = "") -> Response:
    """How many students of each class have consent given, withdrawn, or were never asked."""
    with desk.engine.connect() as conn:
        classes = consent_overview(conn, desk.school_id)
    if format:
        _ = desk._
        headings = [_("Class"), _("Students"), _("given"), _("withdrawn"), _("never asked")]
        cells = ([c.class_name, c.students, c.given, c.withdrawn, c.never] for c in classes)
        return table_file(format, f"consent-{desk.school_id}", headings, cells)
    totals = {
        "given": sum(c.given for c in classes),
        "withdrawn": sum(c.withdrawn for c in classes),
        "never": sum(c.never for c in classes),
    }
    return desk.page("office/consent.html", title=desk._("Consents"), classes=classes, totals=totals)


@router.post("/office/schools/{school_id}/people/{person_id}/consent", dependencies=_checked, response_model=None)
def paper_consent(
    desk: AdminDesk,
    person_id: UUID,
    guardian: Annotated[str, Form(max_length=64)] = "",
    given: Annotated[str, Form(max_length=8)] = "true",
    method: Annotated[Literal["card", "qr"], Form()] = "card",
    signed_on: Annotated[str, Form(max_length=32)] = "",
    reference: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record a consent (or its withdrawal) a guardian signed on paper; the page again with what to fix."""
    form = {"guardian": guardian, "given": given, "method": method, "signed_on": signed_on, "reference": reference}
    errors = FormErrors()
    _ = desk._
    try:
        guardian_id = UUID(guardian)
    except ValueError:
        guardian_id = None
        errors.add("guardian", _("Choose the guardian who signed the paper."))
    day = typed_date(signed_on)
    if day is None:
        errors.add("signed_on", _("Enter the date written on the paper, for example 03.09.2026."))
    if day is not None and day > local_date(datetime.now(UTC)):
        errors.add("signed_on", _("The date on the paper cannot be in the future."))
    if not reference.strip():
        errors.add("reference", _("Enter the reference of the paper (its number in the school files)."))
    elif len(reference.strip()) > 100:
        errors.add("reference", _("A reference is at most 100 characters."))
    if errors or guardian_id is None or day is None:
        return person_page(desk, person_id, errors=errors, form=form, status=422)
    try:
        with desk.engine.begin() as conn:
            changed = set_consent(
                conn,
                desk.school_id,
                person_id,
                guardian_id,
                given == "true",
                actor=desk.actor,
                paper=Paper(day, reference.strip()),
                method=method,
            )
    except DomainError as refused:
        if refused.code == "unknown_person":
            errors.add("guardian", _("This person is not a guardian of the student."))
        elif refused.code == "date_in_future":
            errors.add("signed_on", _("The date on the paper cannot be in the future."))
        else:
            raise
        return person_page(desk, person_id, errors=errors, form=form, status=422)
    done = "consent_recorded" if changed else "consent_unchanged"
    return back(f"{desk.base}/people/{person_id}?done={done}#consent")
