"""What the Social Wallet routes show the school admin: refused records, the табель, the differences."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel

__all__ = ["Difference", "RejectedPublic", "TabelLine"]


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
