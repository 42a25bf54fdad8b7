"""The Social Wallet in the office (§33-1.4, §33-2): what it refused and why, sending again, the табель.

    GET  /office/schools/{school}/wallet                          the sending state, the refused records,
                                                                  the month's табель (?month=YYYY-MM,
                                                                  ?only=diff, ?format=csv|xlsx)
    POST /office/schools/{school}/wallet/records/{id}/resend      send one refused record again
    GET  /office/schools/{school}/wallet/people/{id}/resend       check before sending a child's refused records again
    POST /office/schools/{school}/wallet/people/{id}/resend       send them again
    GET  /office/schools/{school}/wallet/people/{id}/iin          correct a child's IIN (the form)
    POST /office/schools/{school}/wallet/people/{id}/iin

Each refusal reads in the administrator's language with what to do about it; a code the Wallet
sends that we do not know shows the Wallet's own words and a general hint. The roster import
cannot correct an IIN (it finds people by IIN), so the correction is here, journalled, and a
record sent again carries the IIN the roster has now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.iin_correction import correct_iin
from cloud_api.services.people import find_person
from cloud_api.social_wallet.contract import RejectReason
from cloud_api.social_wallet.office import DayLine, Refused, day_lines, refused, resend, sending_state
from cloud_api.social_wallet.tabel import MealStatus, month_bounds
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back, listing
from cloud_api.web.office.downloads import personal_table_file
from shared.i18n import Translator
from shared.localtime import local_date

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]


def _(message: str) -> str:
    """Marks a catalog message (tests/test_i18n.py finds it); it is translated when shown."""
    return message


# The Wallet's reason codes: what it means (the catalog's words the JSON API uses too) and what
# the school does about it. Which refusals a corrected IIN cures: those the form is offered for.
REASONS = {
    RejectReason.UNKNOWN_STUDENT: "wallet_unknown_student",
    RejectReason.NOT_ELIGIBLE: "wallet_not_eligible",
    RejectReason.ALREADY_REGISTERED: "wallet_already_registered",
    RejectReason.UNKNOWN_SCHOOL: "wallet_unknown_school",
    RejectReason.INVALID_RECORD: "wallet_invalid_record",
    RejectReason.OTHER: "wallet_other",
}
HINTS = {
    RejectReason.UNKNOWN_STUDENT: _(
        "Check the IIN of the child against the birth certificate, correct it, then send the record again."
    ),
    RejectReason.NOT_ELIGIBLE: _(
        "Check the meal category of the child in the roster (free or discounted) and the social status in the register of the Social Wallet; once the register is right, send the record again."  # noqa: E501 (a catalog message is one literal)
    ),
    RejectReason.ALREADY_REGISTERED: _(
        "The Social Wallet already has a meal of this child for that day and period: nothing is lost. Compare with the timesheet below; send again only if the record in the Social Wallet was cancelled."  # noqa: E501 (a catalog message is one literal)
    ),
    RejectReason.UNKNOWN_SCHOOL: _(
        "The school is not registered in the Social Wallet: every meal will be refused. Call the education department; send the records again once the school is registered."  # noqa: E501 (a catalog message is one literal)
    ),
    RejectReason.INVALID_RECORD: _(
        "The record does not follow the rules of the Social Wallet, most often because of the IIN: check the IIN of the child, then send the record again. If it is refused again, tell the service desk."  # noqa: E501 (a catalog message is one literal)
    ),
    RejectReason.OTHER: _(
        "Read the words of the Social Wallet beside the reason. Correct what they name and send the record again, or tell the service desk."  # noqa: E501 (a catalog message is one literal)
    ),
}
IIN_REASONS = frozenset({RejectReason.UNKNOWN_STUDENT, RejectReason.INVALID_RECORD, RejectReason.OTHER})
STATUS_WORDS = {
    MealStatus.DELIVERED: "wallet_delivered",
    MealStatus.REJECTED: "wallet_rejected",
    MealStatus.PENDING: "wallet_pending",
    MealStatus.MISSING: "wallet_missing",
}


def _reason(code: str) -> RejectReason:
    return RejectReason(code) if code in RejectReason._value2member_map_ else RejectReason.OTHER


@dataclass(frozen=True)
class RefusalView:
    """A refused record as the page shows it."""

    record: Refused
    reason_text: str
    hint: str
    iin_fix: bool  # a corrected IIN may cure it: the page offers the form
    unknown_code: bool  # a code we do not know: the Wallet's own words matter most


def _views(records: list[Refused], tr: Translator) -> list[RefusalView]:
    views = []
    for r in records:
        reason = _reason(r.reason)
        views.append(
            RefusalView(
                record=r,
                reason_text=tr(REASONS[reason]),
                hint=tr(HINTS[reason]),
                iin_fix=reason in IIN_REASONS and r.name is not None,
                unknown_code=reason is RejectReason.OTHER and r.reason != RejectReason.OTHER.value,
            )
        )
    return views


@dataclass
class ChildRefusals:
    """A child's refused records together: one correction and one "send all" cures them."""

    person_id: UUID
    name: str | None
    class_name: str | None
    sent_iin: str
    iin_now: str | None
    refusals: list[RefusalView]

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """Each distinct (reason, what to do) once, in the order first met."""
        return list(dict.fromkeys((v.reason_text, v.hint) for v in self.refusals))

    @property
    def iin_fix(self) -> bool:
        """Whether a corrected IIN may cure one of them."""
        return any(v.iin_fix for v in self.refusals)

    @property
    def iin_changed(self) -> bool:
        """Whether the IIN was corrected since the records were sent."""
        return any(v.record.iin_changed for v in self.refusals)


def _by_child(views: list[RefusalView]) -> list[ChildRefusals]:
    groups: dict[UUID, ChildRefusals] = {}
    for v in views:
        r = v.record
        group = groups.get(r.person_id)
        if group is None:
            group = groups[r.person_id] = ChildRefusals(r.person_id, r.name, r.class_name, r.sent_iin, r.iin_now, [])
        group.refusals.append(v)
    return list(groups.values())


def _this_month() -> str:
    return local_date(datetime.now(UTC)).strftime("%Y-%m")


def _open_words(line: DayLine, tr: Translator, *, reasons: bool = True) -> str:
    """The meals of the day without a receipt, each with its state: "lunch: refused (reason)"."""
    parts = []
    for period, status, reason in line.open:
        words = f"{tr(period)}: {tr(STATUS_WORDS[status])}"
        if reasons and status is MealStatus.REJECTED and reason:
            words += f" ({tr(REASONS[_reason(reason)])})"
        parts.append(words)
    return "; ".join(parts)


@router.get("/office/schools/{school_id}/wallet", response_class=HTMLResponse)
def wallet_page(
    desk: AdminDesk,
    month: Annotated[str, Query(max_length=7)] = "",
    only: Annotated[Literal["", "diff"], Query()] = "",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """The sending state, the refused records with what to do, and the month's табель with its differences."""
    tr = desk._
    errors = FormErrors()
    chosen = month.strip() or _this_month()
    try:
        first, after = month_bounds(chosen)
        if not 2000 <= first.year <= 2100:
            raise ValueError(chosen)
    except ValueError:
        errors.add("month", tr("Choose a month, for example 2026-11."))
        chosen = _this_month()
        first, after = month_bounds(chosen)
    with desk.engine.connect() as conn:
        state = sending_state(conn, desk.school_id, first, after)
        records = refused(conn, desk.school_id)
        lines = day_lines(conn, desk.school_id, chosen)
    shown = [line for line in lines if line.difference] if only else lines
    if format:
        headings = [
            tr("Surname and name"),
            tr("Class"),
            tr("Date"),
            tr("Served"),
            tr("Confirmed by the Social Wallet"),
            tr("Difference"),
            tr("Not confirmed"),
        ]
        cells = (
            [
                line.name,
                line.class_name,
                line.day,
                ", ".join(tr(p) for p in line.served),
                ", ".join(tr(p) for p in line.receipted),
                line.difference,
                _open_words(line, tr),
            ]
            for line in shown
        )
        return personal_table_file(desk, format, f"wallet-{desk.school_id}-{chosen}", headings, cells)
    place = listing(desk.request, {"month": month.strip() if not errors else "", "only": only}, ("",), per_page=100)
    total = len(shown)
    place = place.counted(total)
    if place.offset >= total > 0:
        place = place.last_page()
    summary = {
        "served": sum(len(line.served) for line in lines),
        "receipted": sum(len(line.receipted) for line in lines),
        "days": sum(1 for line in lines if line.difference),
    }
    return desk.page(
        "office/wallet.html",
        title=tr("Social Wallet"),
        status=422 if errors else 200,
        errors=errors,
        state=state,
        children=_by_child(_views(records, tr)),
        refused_shown=len(records),
        month=chosen,
        only=only,
        month_words=tr.month(first),
        # the page names the reasons once, in the refused list above; the file has them on each line
        lines=[
            (line, _open_words(line, tr, reasons=False)) for line in shown[place.offset : place.offset + place.per_page]
        ],
        listing=place,
        summary=summary,
    )


@router.post("/office/schools/{school_id}/wallet/records/{record_id}/resend", dependencies=_checked)
def resend_record(desk: AdminDesk, record_id: UUID) -> Response:
    """Send one refused record again, with the child's IIN as the roster has it now."""
    with desk.engine.begin() as conn:
        resend(conn, desk.school_id, [record_id], actor=desk.actor, now=datetime.now(UTC))
    return back(f"{desk.base}/wallet?done=wallet_resent#refused")


def _child(desk: Desk, person_id: UUID) -> tuple[dict[str, object], list[Refused]]:
    with desk.engine.connect() as conn:
        person = find_person(conn, desk.school_id, person_id)
        if person is None or person.get("role") != "student":  # the Wallet knows children only
            raise DomainError("unknown_person")
        return person, refused(conn, desk.school_id, person_id=person_id)


@router.get("/office/schools/{school_id}/wallet/people/{person_id}/resend", response_class=HTMLResponse)
def resend_child_check(desk: AdminDesk, person_id: UUID) -> HTMLResponse:
    """What sending the child's refused records again will do, before it is done."""
    person, records = _child(desk, person_id)
    return desk.page(
        "office/wallet_resend.html",
        title=desk._("Send the refused records again"),
        person=person,
        refusals=_views(records, desk._),
    )


@router.post("/office/schools/{school_id}/wallet/people/{person_id}/resend", dependencies=_checked)
def resend_child(desk: AdminDesk, person_id: UUID) -> Response:
    """Send every refused record of the child again (confirmed on the page before)."""
    _person, records = _child(desk, person_id)
    if not records:  # sent already (a second tab, a reload): nothing to do, nothing to announce
        return back(f"{desk.base}/wallet#refused")
    with desk.engine.begin() as conn:
        resend(conn, desk.school_id, [r.record_id for r in records], actor=desk.actor, now=datetime.now(UTC))
    return back(f"{desk.base}/wallet?done=wallet_resent_all#refused")


def _iin_page(
    desk: AdminDesk, person_id: UUID, *, form: str = "", errors: FormErrors | None = None, status: int = 200
) -> HTMLResponse:
    person, records = _child(desk, person_id)
    return desk.page(
        "office/wallet_iin.html",
        title=desk._("Correct the IIN"),
        status=status,
        person=person,
        refusals=_views(records, desk._),
        form={"iin": form or str(person["iin"])},
        errors=errors or FormErrors(),
    )


@router.get("/office/schools/{school_id}/wallet/people/{person_id}/iin", response_class=HTMLResponse)
def iin_form(desk: AdminDesk, person_id: UUID) -> HTMLResponse:
    """The form that corrects a child's IIN."""
    return _iin_page(desk, person_id)


@router.post("/office/schools/{school_id}/wallet/people/{person_id}/iin", dependencies=_checked, response_model=None)
def iin_save(desk: AdminDesk, person_id: UUID, iin: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Correct the IIN (journalled); then on to the wallet page, where the refused records can go again."""
    _child(desk, person_id)  # a child of this school, or not found
    errors = FormErrors()
    try:
        with desk.engine.begin() as conn:
            changed = correct_iin(conn, desk.school_id, person_id, iin, actor=desk.actor)
    except DomainError as refused_:
        if refused_.code == "unknown_person":
            raise
        errors.add("iin", desk._(refused_.code))
        return _iin_page(desk, person_id, form=iin, errors=errors, status=422)
    done = "iin_corrected" if changed else "iin_unchanged"
    return back(f"{desk.base}/wallet?done={done}#refused")
