"""The Social Wallet as the school admin sees it (§33-2): what the Wallet refused, and the табель.

GET /v1/schools/{school_id}/social-wallet/rejected             school_admin: refused records, reasons translated
GET /v1/schools/{school_id}/social-wallet/tabel?month=YYYY-MM  school_admin: meal days against receipts
GET /v1/schools/{school_id}/social-wallet/differences?month=   school_admin: meals without a receipt
POST /v1/schools/{school_id}/social-wallet/records/{record_id}/resend
                                                               school_admin: a refused record back in the
                                                               queue, with the child's IIN now (audited)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from cloud_api.api.deps import EngineDep, LanguageDep, SchoolAdmin, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.reports import MONTH_PATTERN
from cloud_api.api.schemas.social_wallet import Difference, RejectedPublic, TabelLine
from cloud_api.social_wallet.contract import RejectReason
from cloud_api.social_wallet.office import resend
from cloud_api.social_wallet.tabel import monthly_tabel, rejected_records, tabel_differences
from shared.i18n import Translator, translator

__all__ = ["router"]

router = APIRouter(tags=["social wallet"])
Month = Annotated[str, Query(pattern=MONTH_PATTERN, examples=["2026-11"])]


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


def _reason_text(reason: str, tr: Translator) -> str:
    known = {r.value for r in RejectReason}
    return tr(REASON_TEXT[RejectReason(reason) if reason in known else RejectReason.OTHER])


@router.get(
    "/v1/schools/{school_id}/social-wallet/rejected",
    response_model=list[RejectedPublic],
    summary="Meals the Social Wallet refused",
)
def get_rejected(
    school_id: SchoolPath, _principal: SchoolAdmin, engine: EngineDep, language: LanguageDep
) -> list[RejectedPublic]:
    """Each refused record with the Wallet's reason (translated) and its own message, newest first."""
    tr = translator(language)
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
def get_tabel(school_id: SchoolPath, month: Month, _principal: SchoolAdmin, engine: EngineDep) -> list[TabelLine]:
    """Per child, the month's days with a free or discounted meal and which of them the Wallet receipted."""
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
    school_id: SchoolPath, month: Month, _principal: SchoolAdmin, engine: EngineDep, language: LanguageDep
) -> list[Difference]:
    """Every state-paid meal of the month that the Wallet has not receipted: rejected, pending or missing."""
    tr = translator(language)
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


@router.post(
    "/v1/schools/{school_id}/social-wallet/records/{record_id}/resend",
    status_code=204,
    summary="Send a refused record to the Social Wallet again",
    responses=refusals("not_found", "wallet_record_not_refused", "unknown_person"),
)
def resend_record(school_id: SchoolPath, record_id: UUID, principal: SchoolAdmin, engine: EngineDep) -> Response:
    """Back in the queue with the child's IIN as the roster has it now; the prices stay as served.

    409 when the record is not refused (it waits already, or the Wallet accepted it: never twice).
    """
    with engine.begin() as conn:
        resend(conn, school_id, [record_id], actor=principal.actor, now=datetime.now(UTC))
    return Response(status_code=204)
