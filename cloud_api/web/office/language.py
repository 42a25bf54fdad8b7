"""The office's language switch: the reader's choice kept in a cookie, then back to the page they were on.

GET /office/language?to=kk&back=/office/schools/s1/people
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from cloud_api.web.pages import remember_language

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/office/language")
def switch_language(
    request: Request,
    to: Annotated[str, Query(max_length=8)] = "",
    back: Annotated[str, Query(max_length=8000)] = "/office/",
) -> RedirectResponse:
    """Keep ``to`` as the reader's language; back to ``back``, an office page of this site only."""
    # Only a path of the office: "//elsewhere" or "/office/../x" would make this an open redirect.
    safe = back.startswith("/office/") and "//" not in back and ".." not in back and "\\" not in back
    here = back if safe and len(back) <= 2000 else "/office/"
    answer = RedirectResponse(here, status_code=303)
    remember_language(request, answer, to)
    return answer
