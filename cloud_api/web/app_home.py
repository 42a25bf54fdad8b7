"""The app's start page, ``/app/``: the student's home for a student, the parent app's for a guardian.

Both sign in at the same door (``/app/sign-in``) and land here; who is signed in
(:mod:`cloud_api.web.visitor`) picks the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cloud_api.web import parent, student
from cloud_api.web.visitor import VisitorDep

__all__ = ["router"]

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, signed_in: VisitorDep) -> HTMLResponse:
    """Today: the student's own day, or each of the guardian's children's."""
    if signed_in.student:
        return student.home(request, signed_in)
    return parent.home(request, parent.Family(signed_in))
