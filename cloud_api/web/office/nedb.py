"""The exchange with the National Education Database (NEDB, ҰБДҚ; §15) as the school's office shows it.

    GET  /office/schools/{school}/nedb        where the roster pull stands (last pull, version, records
                                              applied and refused, next pull, an outage), the records
                                              refused with their reasons, the figures sent and refused
    POST /office/schools/{school}/nedb/pull   pull now (no JavaScript: a form), journalled
    GET  /office/deployment/nedb              the deployment's administrator: every school that takes
                                              part with its state, and the form to add one
    POST /office/deployment/nedb              a school takes part under its NEDB code, or leaves

A school that does not take part (or a deployment without the exchange) is told so, and sent to the
file import, which stays for every school. Which school takes part, under which NEDB code, is the
deployment's decision (its page here, or ``mektep cloud nedb-enable``): a code typed by a school
would pull another school's roster into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.nedb.contract import FigureRefusal
from cloud_api.nedb.store import (
    ORGANISATION,
    SchoolLink,
    disable,
    enable,
    figures_of,
    figures_waiting,
    link_of,
    linked_schools,
    pull_now,
    refusals_of,
    school_known,
)
from cloud_api.web.office.console import AdminDesk, FormErrors, back
from cloud_api.web.office.deployment import DeploymentDesk
from cloud_api.web.office.deployment import Desk as Deployment
from shared.i18n import Translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
SHOWN = 200  # refused records listed; a whole bad version is fixed at the NEDB, not read row by row here


def _(message: str) -> str:
    """Marks a catalog message (tests/test_i18n.py finds it); it is translated when shown."""
    return message


# The fields of a refused roster record, as the office names them.
COLUMNS = {
    "iin": _("IIN"),
    "class": _("Class"),
    "last_name": _("Last name"),
    "first_name": _("First name"),
    "middle_name": _("Middle name"),
    "meal_category": _("Meal category"),
    "discount_percent": _("Discount"),
    "language": _("Language"),
    "phone": _("Phone"),
    "email": _("E-mail"),
}
# Why the NEDB refused a figure (its codes; one we do not know reads as "other", with its words).
FIGURE_REASONS = {
    FigureRefusal.UNKNOWN_CLASS: _("nedb_figure_unknown_class"),
    FigureRefusal.INCONSISTENT: _("nedb_figure_inconsistent"),
    FigureRefusal.PERIOD_CLOSED: _("nedb_figure_period_closed"),
    FigureRefusal.INVALID_RECORD: _("nedb_figure_invalid_record"),
    FigureRefusal.OTHER: _("nedb_figure_other"),
}
MEASURES = {"meals": _("Meals"), "attendance": _("Attendance")}
ALL_CLASSES = _("all classes")


@dataclass(frozen=True)
class FigureLine:
    """A refused figure as the page shows it."""

    period: str
    what: str
    reason: str
    says: str


def _figure_name(record_id: str, measure: str, tr: Translator) -> str:
    """ "Meals · 3А · free" from "meals/3А/free": the record's id in the reader's words."""
    parts = record_id.split("/")[1:]
    words = [tr(MEASURES.get(measure, measure))]
    for part in parts:
        words.append(
            tr(part) if part in ("free", "discounted", "paid") else (tr(ALL_CLASSES) if part == "total" else part)
        )
    return " · ".join(w for w in words if w and w != "class")


def _figure_lines(rows: list[dict[str, Any]], tr: Translator) -> list[FigureLine]:
    lines = []
    for r in rows:
        known = r["reason"] in FigureRefusal._value2member_map_
        reason = FIGURE_REASONS[FigureRefusal(r["reason"]) if known else FigureRefusal.OTHER]
        period = (r["detail"] or {}).get("period", "")
        lines.append(FigureLine(period, _figure_name(r["record_id"], r["kind"], tr), tr(reason), r["message"]))
    return lines


def _state(desk: Any) -> dict[str, Any]:
    configured = bool(desk.request.app.state.settings.nedb_url)
    with desk.engine.connect() as conn:
        link: SchoolLink | None = link_of(conn, desk.school_id)
        if link is None:
            return {"configured": configured, "link": None}
        refused = refusals_of(conn, desk.school_id, "in", limit=SHOWN)
        figures = figures_of(conn, desk.school_id)
        figures_refused = refusals_of(conn, desk.school_id, "out", limit=SHOWN)
    return {
        "configured": configured,
        "link": link,
        "refused": refused,
        "columns": COLUMNS,
        "figures": figures,
        "figure_lines": _figure_lines(figures_refused, desk._),
        "shown": SHOWN,
    }


@router.get("/office/schools/{school_id}/nedb", response_class=HTMLResponse)
def nedb_page(desk: AdminDesk) -> HTMLResponse:
    """Where the exchange with the NEDB stands for the school."""
    done = desk.request.query_params.get("pulled")
    return desk.page(
        "office/nedb.html",
        title=desk._("Exchange with the NEDB"),
        nedb_done="nedb_pull_asked" if done == "1" else None,
        **_state(desk),
    )


@router.post("/office/schools/{school_id}/nedb/pull", dependencies=_checked, response_model=None)
def pull_form(desk: AdminDesk) -> Response:
    """Pull the school's roster from the NEDB now, not at the next scheduled time."""
    with desk.engine.begin() as conn:
        taking_part = pull_now(conn, desk.school_id, actor=desk.actor, now=datetime.now(UTC))
    if not taking_part:
        return back(f"{desk.base}/nedb")
    background = getattr(desk.request.app.state, "background", None)
    if background is not None:
        background.wake("nedb")  # the worker's next round starts now, in this process
    return back(f"{desk.base}/nedb?pulled=1")


# -- the deployment's view: which schools take part, and how each one's exchange stands ----------


def _deployment_page(desk: DeploymentDesk, errors: FormErrors | None = None, form: dict[str, str] | None = None,
                     status: int = 200) -> HTMLResponse:  # fmt: skip
    with desk.engine.connect() as conn:
        links = linked_schools(conn)
        waiting = figures_waiting(conn, [link.school_id for link in links])
    return desk.page(
        "office/deployment_nedb.html",
        title=desk._("Exchange with the NEDB"),
        status=status,
        errors=errors or FormErrors(),
        form=form or {},
        links=links,
        waiting=waiting,
        configured=bool(desk.request.app.state.settings.nedb_url),
        nedb_done=desk.request.query_params.get("changed") and "nedb_link_saved",
    )


@router.get("/office/deployment/nedb", response_class=HTMLResponse)
def deployment_nedb_page(desk: Deployment) -> HTMLResponse:
    """Every school that takes part in the NEDB exchange with its state, and the form to add one."""
    return _deployment_page(desk)


@router.post("/office/deployment/nedb", dependencies=_checked, response_model=None)
def deployment_nedb_form(
    desk: Deployment,
    school: Annotated[str, Form(max_length=200)] = "",
    organisation: Annotated[str, Form(max_length=200)] = "",
    leave: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Let a school take part under its NEDB code (again: a new code), or take one out (``leave``)."""
    now = datetime.now(UTC)
    if leave:
        with desk.engine.begin() as conn:
            disable(conn, leave, actor=desk.actor, now=now)
        return back(f"{desk.base}/nedb?changed=1")
    form = {"school": school.strip(), "organisation": organisation.strip()}
    errors = FormErrors()
    with desk.engine.begin() as conn:
        if not form["school"] or not school_known(conn, form["school"]):
            errors.add("school", desk._("nedb_unknown_school"))
        if not re.fullmatch(ORGANISATION, form["organisation"]):
            errors.add("organisation", desk._("nedb_bad_organisation"))
        if not errors:
            enable(conn, form["school"], form["organisation"], actor=desk.actor, now=now)
    if errors:
        return _deployment_page(desk, errors, form, 422)
    return back(f"{desk.base}/nedb?changed=1")
