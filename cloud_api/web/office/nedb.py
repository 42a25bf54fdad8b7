"""The exchange with the National Education Database (NEDB, ҰБДҚ; §15) as the school's office shows it.

    GET  /office/schools/{school}/nedb        where the roster pull stands (last pull, version, records
                                              applied and refused, next pull, an outage), the records
                                              refused with their reasons, the figures sent and refused
    POST /office/schools/{school}/nedb/pull   pull now (no JavaScript: a form), journalled

A school that does not take part (or a deployment without the exchange) is told so, and sent to the
file import, which stays for every school. Which school takes part, under which NEDB code, is the
deployment's decision (``mektep cloud nedb-enable``): a code typed here would pull another school's
roster into this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.nedb.contract import FigureRefusal
from cloud_api.nedb.store import SchoolLink, figures_of, link_of, pull_now, refusals_of
from cloud_api.web.office.console import AdminDesk, back
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
