"""The monthly табель of state-paid meals against the Wallet's receipts, and what does not match.

The meals are ``free_meals`` (one per child, day and period, what the state pays); a meal is
``delivered`` when the Wallet's verified receipt is kept, ``rejected`` when the Wallet refused it,
``pending`` while it waits to be sent, and ``missing`` when it has no outbox row at all (a meal
claimed before the adapter existed, or of a person no longer on the roster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Connection, and_, select

from cloud_api.db.schema import free_meals, people, wallet_outbox, wallet_receipts
from cloud_api.social_wallet.outbox import OutboxStatus

__all__ = [
    "ChildTabel",
    "MealStatus",
    "RejectedRecord",
    "TabelMeal",
    "month_bounds",
    "monthly_tabel",
    "rejected_records",
    "tabel_differences",
]


class MealStatus(StrEnum):
    """Where a state-paid meal stands with the Wallet."""

    DELIVERED = "delivered"
    REJECTED = "rejected"
    PENDING = "pending"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class TabelMeal:
    """One state-paid meal of a child."""

    day: date
    period: str
    category: str
    record_id: UUID
    status: MealStatus
    receipt_id: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class ChildTabel:
    """A child's line of the табель."""

    person_id: UUID
    name: str
    class_name: str | None
    meals: list[TabelMeal] = field(default_factory=list)

    @property
    def meal_days(self) -> list[date]:
        """The days the child had a state-paid meal."""
        return sorted({m.day for m in self.meals})

    @property
    def receipted_days(self) -> list[date]:
        """The meal days of which every meal has a Wallet receipt."""
        days: dict[date, bool] = {}
        for m in self.meals:
            days[m.day] = days.get(m.day, True) and m.status is MealStatus.DELIVERED
        return sorted(day for day, all_receipted in days.items() if all_receipted)


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of ``YYYY-MM`` and the first day of the next month; ``ValueError`` if malformed."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    return first, date(year + number // 12, number % 12 + 1, 1)


def monthly_tabel(conn: Connection, school_id: str, month: str) -> list[ChildTabel]:
    """Per child (by name), the month's state-paid meals and where each stands with the Wallet."""
    first, after = month_bounds(month)
    query = (
        select(
            free_meals.c.person_id,
            free_meals.c.local_date,
            free_meals.c.period,
            free_meals.c.category,
            free_meals.c.event_id,
            people.c.last_name,
            people.c.first_name,
            people.c.class_name,
            wallet_outbox.c.status,
            wallet_outbox.c.reason,
            wallet_receipts.c.receipt_id,
        )
        .select_from(free_meals)
        .outerjoin(people, and_(people.c.school_id == free_meals.c.school_id, people.c.id == free_meals.c.person_id))
        .outerjoin(
            wallet_outbox,
            and_(
                wallet_outbox.c.school_id == free_meals.c.school_id, wallet_outbox.c.record_id == free_meals.c.event_id
            ),
        )
        .outerjoin(
            wallet_receipts,
            and_(
                wallet_receipts.c.school_id == free_meals.c.school_id,
                wallet_receipts.c.record_id == free_meals.c.event_id,
            ),
        )
        .where(free_meals.c.school_id == school_id, free_meals.c.local_date >= first, free_meals.c.local_date < after)
        .order_by(
            people.c.last_name,
            people.c.first_name,
            free_meals.c.person_id,
            free_meals.c.local_date,
            free_meals.c.period,
        )
    )
    children: dict[UUID, ChildTabel] = {}
    for row in conn.execute(query):
        child = children.get(row.person_id)
        if child is None:
            name = f"{row.last_name} {row.first_name}" if row.last_name else str(row.person_id)
            child = children[row.person_id] = ChildTabel(row.person_id, name, row.class_name)
        child.meals.append(
            TabelMeal(
                day=row.local_date,
                period=row.period,
                category=row.category,
                record_id=row.event_id,
                status=_status(row.receipt_id, row.status),
                receipt_id=row.receipt_id,
                reason=row.reason,
            )
        )
    return list(children.values())


def _status(receipt_id: str | None, outbox_status: str | None) -> MealStatus:
    if receipt_id is not None:
        return MealStatus.DELIVERED  # the receipt is the proof, whatever else the row says
    if outbox_status is None:
        return MealStatus.MISSING
    return MealStatus.REJECTED if outbox_status == OutboxStatus.REJECTED.value else MealStatus.PENDING


def tabel_differences(conn: Connection, school_id: str, month: str) -> list[tuple[ChildTabel, TabelMeal]]:
    """The month's meals without a receipt (rejected, pending or missing), child by child."""
    return [
        (child, meal)
        for child in monthly_tabel(conn, school_id, month)
        for meal in child.meals
        if meal.status is not MealStatus.DELIVERED
    ]


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A meal the Wallet refused: whose, when, and the Wallet's reason."""

    record_id: UUID
    person_id: UUID
    name: str
    class_name: str | None
    day: date
    period: str
    reason: str
    message: str
    rejected_at: datetime | None


def rejected_records(conn: Connection, school_id: str, limit: int = 500) -> list[RejectedRecord]:
    """The school's rejected records, newest meal first."""
    query = (
        select(wallet_outbox, people.c.last_name, people.c.first_name, people.c.class_name)
        .outerjoin(
            people, and_(people.c.school_id == wallet_outbox.c.school_id, people.c.id == wallet_outbox.c.person_id)
        )
        .where(wallet_outbox.c.school_id == school_id, wallet_outbox.c.status == OutboxStatus.REJECTED.value)
        .order_by(wallet_outbox.c.local_date.desc(), wallet_outbox.c.record_id)
        .limit(limit)
    )
    return [
        RejectedRecord(
            record_id=row.record_id,
            person_id=row.person_id,
            name=f"{row.last_name} {row.first_name}" if row.last_name else str(row.person_id),
            class_name=row.class_name,
            day=row.local_date,
            period=row.period,
            reason=row.reason or "other",
            message=row.message or "",
            rejected_at=row.settled_at,
        )
        for row in conn.execute(query)
    ]
