"""The Wallet outbox: written at ingest, leased by a sender, settled once. The caller owns the transaction.

A row is written in the ingest's transaction for every free or discounted meal that won its claim
in ``free_meals`` (never for a conflict), so the state is told of exactly the meals it pays for.

The IIN is read at enqueue time and the price is the menu's at serving (never at send time): the
registration is a fact fixed when the meal was served, and every retry must carry the same body under the same
idempotency key (a key reused with another body is a conflict at most APIs, and the row stays
proof of what was sent). A later roster or menu change does not rewrite what the state was told.

    pending ──receipt (verified)──> delivered
       └────rejection────────────> rejected   (shown to the school admin with the Wallet's reason)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from cloud_api.background.queue import PENDING, LeasedQueue
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import people, wallet_outbox, wallet_receipts
from cloud_api.services.meal_prices import full_price
from cloud_api.social_wallet.contract import MealRegistration, WalletCategory, WalletReceipt, WalletRejection
from shared.contract import Event
from shared.localtime import local_date

__all__ = [
    "QUEUE",
    "OutboxStatus",
    "Pending",
    "claim_pending",
    "enqueue_meals",
    "mark_rejected",
    "release",
    "store_receipts",
]


class OutboxStatus(StrEnum):
    """Where a record's delivery stands."""

    PENDING = PENDING
    DELIVERED = "delivered"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Pending:
    """A leased record: its body as it is sent, and where it belongs."""

    school_id: str
    record_id: UUID
    payload: dict[str, Any]


QUEUE = LeasedQueue(
    wallet_outbox, key=("school_id", "record_id"), state="status", lease="claimed_until", order="created_at"
)


def enqueue_meals(
    conn: Connection, school_id: str, events: Sequence[Event], menu_prices: Mapping[UUID, int], *, at: datetime
) -> int:
    """One pending row per free or discounted meal in ``events`` (meals that won their claim); how many.
    Each is sent at its full price: ``menu_prices``, its set meal's price at serving.

    A meal whose person is not on the roster gets no row (there is no IIN to send): the monthly
    табель shows it as ``missing``.
    """
    meals = [(e, e.meal) for e in events if e.meal is not None and e.person_id is not None]
    if not meals:
        return 0
    person_ids = {UUID(e.person_id) for e, _ in meals if e.person_id is not None}
    who = {
        row.id: row
        for row in conn.execute(
            select(people.c.id, people.c.iin, people.c.discount_percent).where(
                people.c.school_id == school_id, people.c.id.in_(person_ids)
            )
        )
    }
    rows = []
    for e, meal in meals:
        person = who.get(UUID(e.person_id)) if e.person_id is not None else None
        if person is None:
            continue
        day = local_date(e.occurred_at)
        full = full_price(meal.price_tiyn, menu_prices.get(e.id), person.discount_percent)
        registration = MealRegistration(
            record_id=e.id,
            student_iin=person.iin,
            school_id=school_id,
            served_at=e.occurred_at,
            meal_date=day,
            period=meal.period,
            dishes=list(meal.dishes),
            category=WalletCategory(meal.category.value),
            full_price_tiyn=full,
            state_share_tiyn=full - meal.price_tiyn,
        )
        rows.append(
            {
                "school_id": school_id,
                "record_id": e.id,
                "person_id": person.id,
                "local_date": day,
                "period": meal.period,
                "payload": registration.model_dump(mode="json"),
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "created_at": at,
            }
        )
    if not rows:
        return 0
    stmt = dialect_insert(conn, wallet_outbox).on_conflict_do_nothing(index_elements=["school_id", "record_id"])
    return len(conn.execute(stmt.returning(wallet_outbox.c.record_id), rows).all())


def claim_pending(conn: Connection, limit: int, *, now: datetime, lease_s: float) -> list[Pending]:
    """Lease up to ``limit`` pending rows, oldest first, for ``lease_s`` seconds.

    A lease rather than a held lock: a Wallet outage can last hours and no transaction should stay
    open that long. A sender that dies leaves its lease to expire, and the rows go back to pending
    (the leased queue of :mod:`cloud_api.background.queue`, shared by every API process).
    """
    rows = QUEUE.claim(conn, now=now, limit=limit, lease=timedelta(seconds=lease_s))
    return [Pending(row.school_id, row.record_id, row.payload) for row in rows]


def store_receipts(conn: Connection, receipts: Sequence[tuple[str, WalletReceipt, int]], *, now: datetime) -> int:
    """Keep each verified receipt once and mark its record delivered; how many receipts were new.

    ``receipts`` are (school, receipt, HTTP tries). A receipt for a record that has one already (the
    Wallet answered twice) is not stored again: the first one stays the proof.
    """
    if not receipts:
        return 0
    rows = [
        {
            "school_id": school_id,
            "record_id": r.record_id,
            "receipt_id": r.receipt_id,
            "accepted_at": r.accepted_at,
            "signature": r.signature,
            "public_key": r.public_key,
            "stored_at": now,
        }
        for school_id, r, _ in receipts
    ]
    stmt = dialect_insert(conn, wallet_receipts).on_conflict_do_nothing(index_elements=["school_id", "record_id"])
    new = len(conn.execute(stmt.returning(wallet_receipts.c.record_id), rows).all())
    for school_id, receipt, tries in receipts:
        # A verified receipt proves acceptance, whatever the row said before (a rejection included).
        _settle(
            conn,
            school_id,
            receipt.record_id,
            tries,
            now,
            status=OutboxStatus.DELIVERED,
            reason=None,
            was=(OutboxStatus.PENDING, OutboxStatus.REJECTED),
        )
    return new


def mark_rejected(conn: Connection, rejections: Sequence[tuple[str, WalletRejection, int]], *, now: datetime) -> None:
    """Mark each (school, rejection, tries) record rejected with the Wallet's reason; a delivered one stays."""
    for school_id, rejection, tries in rejections:
        _settle(
            conn,
            school_id,
            rejection.record_id,
            tries,
            now,
            status=OutboxStatus.REJECTED,
            reason=rejection.reason[:64],
            message=rejection.message[:500],
            was=(OutboxStatus.PENDING,),
        )


def release(conn: Connection, records: Sequence[tuple[str, UUID, int]], error: str, *, now: datetime) -> None:
    """Give leased (school, record, tries) rows back to pending with ``error``: the next round sends them."""
    for school_id, record_id, tries in records:
        QUEUE.release(
            conn,
            [(school_id, record_id)],
            retry_at=None,
            last_error=error[:200],
            last_attempt_at=now,
            attempts=wallet_outbox.c.attempts + tries,
            # The first failure is kept across rounds: the office says since when the Wallet is silent.
            failing_since=func.coalesce(wallet_outbox.c.failing_since, now),
        )


def _settle(
    conn: Connection,
    school_id: str,
    record_id: UUID,
    tries: int,
    now: datetime,
    *,
    status: OutboxStatus,
    reason: str | None,
    was: tuple[OutboxStatus, ...],
    message: str | None = None,
) -> None:
    """Move one record from pending (or one of ``was``) to ``status``; one settled otherwise stays as it is."""
    QUEUE.settle(
        conn,
        [(school_id, record_id)],
        status.value,
        also_from=[w.value for w in was if w is not OutboxStatus.PENDING],
        reason=reason,
        message=message,
        last_attempt_at=now,
        settled_at=now,
        last_error=None,
        failing_since=None,
        attempts=wallet_outbox.c.attempts + tries,
    )
