"""The Social Wallet as the school admin sees it (§33-2): what the Wallet refused, and the табель.

GET /v1/schools/{school_id}/social-wallet/rejected             school_admin: refused records, reasons translated
GET /v1/schools/{school_id}/social-wallet/tabel?month=YYYY-MM  school_admin: meal days against receipts
GET /v1/schools/{school_id}/social-wallet/differences?month=   school_admin: meals without a receipt
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cloud_api.api.deps import AcceptLanguage, EngineDep, SchoolAdmin
from cloud_api.api.errors import coded_error
from cloud_api.social_wallet.contract import RejectReason
from cloud_api.social_wallet.tabel import month_bounds, monthly_tabel, rejected_records, tabel_differences
from shared.i18n import Translator, translator

__all__ = ["router"]

router = APIRouter(tags=["social wallet"])
Month = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]


def _(message: str) -> str:
    """Marks a catalog message (tests/test_i18n.py finds it); it is translated when answered."""
    return message


# The Wallet's reason codes, as the school admin reads them; a code the Wallet sends that is not
# here reads as ``other`` (with the Wallet's own message beside it).
REASON_TEXT = {
    RejectReason.UNKNOWN_STUDENT: _("wallet_unknown_student"),
    RejectReason.NOT_ELIGIBLE: _("wallet_not_eligible"),
    RejectReason.ALREADY_REGISTERED: _("wallet_already_registered"),
    RejectReason.UNKNOWN_SCHOOL: _("wallet_unknown_school"),
    RejectReason.INVALID_RECORD: _("wallet_invalid_record"),
    RejectReason.OTHER: _("wallet_other"),
}
STATUS_TEXT = {
    "delivered": _("wallet_delivered"),
    "rejected": _("wallet_rejected"),
    "pending": _("wallet_pending"),
    "missing": _("wallet_missing"),
}


class RejectedPublic(BaseModel):
    """A record the Wallet refused."""

    record_id: UUID
    person_id: UUID
    name: str
    class_name: str | None
    day: date
    period: str
    reason: str
    reason_text: str
    wallet_message: str
    rejected_at: datetime | None


class TabelLine(BaseModel):
    """A child's month: the days with a state-paid meal and those of them the Wallet receipted."""

    person_id: UUID
    name: str
    class_name: str | None
    meal_days: list[date]
    receipted_days: list[date]


class Difference(BaseModel):
    """A meal of the month without a Wallet receipt."""

    person_id: UUID
    name: str
    class_name: str | None
    day: date
    period: str
    record_id: UUID
    status: str
    status_text: str
    reason: str | None
    reason_text: str | None


def _language(accept_language: str | None) -> str:
    return (accept_language or "").split(",")[0].split(";")[0].strip()[:2].lower()


def _reason_text(reason: str, tr: Translator) -> str:
    known = {r.value for r in RejectReason}
    return tr(REASON_TEXT[RejectReason(reason) if reason in known else RejectReason.OTHER])


def _check_month(month: str, accept_language: str | None) -> None:
    try:
        month_bounds(month)
    except ValueError:
        raise coded_error(422, _("bad_month"), accept_language) from None


@router.get(
    "/v1/schools/{school_id}/social-wallet/rejected",
    response_model=list[RejectedPublic],
    summary="Meals the Social Wallet refused",
)
def get_rejected(
    school_id: str, _principal: SchoolAdmin, engine: EngineDep, accept_language: AcceptLanguage = None
) -> list[RejectedPublic]:
    """Each refused record with the Wallet's reason (translated) and its own message, newest first."""
    tr = translator(_language(accept_language))
    with engine.connect() as conn:
        records = rejected_records(conn, school_id)
    return [
        RejectedPublic(
            record_id=r.record_id,
            person_id=r.person_id,
            name=r.name,
            class_name=r.class_name,
            day=r.day,
            period=r.period,
            reason=r.reason,
            reason_text=_reason_text(r.reason, tr),
            wallet_message=r.message,
            rejected_at=r.rejected_at,
        )
        for r in records
    ]


@router.get("/v1/schools/{school_id}/social-wallet/tabel", response_model=list[TabelLine], summary="The month's табель")
def get_tabel(
    school_id: str, month: Month, _principal: SchoolAdmin, engine: EngineDep, accept_language: AcceptLanguage = None
) -> list[TabelLine]:
    """Per child, the month's days with a free or discounted meal and which of them the Wallet receipted."""
    _check_month(month, accept_language)
    with engine.connect() as conn:
        children = monthly_tabel(conn, school_id, month)
    return [
        TabelLine(
            person_id=c.person_id,
            name=c.name,
            class_name=c.class_name,
            meal_days=c.meal_days,
            receipted_days=c.receipted_days,
        )
        for c in children
    ]


@router.get(
    "/v1/schools/{school_id}/social-wallet/differences",
    response_model=list[Difference],
    summary="The month's meals without a Wallet receipt",
)
def get_differences(
    school_id: str, month: Month, _principal: SchoolAdmin, engine: EngineDep, accept_language: AcceptLanguage = None
) -> list[Difference]:
    """Every state-paid meal of the month that the Wallet has not receipted: rejected, pending or missing."""
    _check_month(month, accept_language)
    tr = translator(_language(accept_language))
    with engine.connect() as conn:
        differences = tabel_differences(conn, school_id, month)
    return [
        Difference(
            person_id=c.person_id,
            name=c.name,
            class_name=c.class_name,
            day=m.day,
            period=m.period,
            record_id=m.record_id,
            status=m.status.value,
            status_text=tr(STATUS_TEXT[m.status.value]),
            reason=m.reason,
            reason_text=_reason_text(m.reason, tr) if m.reason else None,
        )
        for c, m in differences
    ]
