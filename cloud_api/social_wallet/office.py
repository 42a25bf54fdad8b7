"""The Social Wallet as the school's administrator handles it in the office (§33-2).

    sending_state   the status panel: how many records wait, were refused, were receipted this
                    month; the last receipt; since when the Wallet has not answered
    refused         the records the Wallet refused, with the IIN they were sent with and the
                    child's IIN now (a corrected IIN is what makes sending again worth it)
    resend          put refused records back in the queue, rebuilt with the child's IIN as the
                    roster has it now; audited
    day_lines       the табель by child and day: meals served against meals the Wallet receipted

Sending again keeps the record's id (the meal's; the Wallet's idempotency key) and everything the
record said but the identity: the prices, dishes and times are facts of the meal as it was served
and stay as first sent. A record the Wallet accepted is never sent again (its receipt is the
proof, and a second registration of the same meal is what the idempotency key exists to prevent).
Every query reads one school's rows by an index (its state, its month, its newest receipt).
The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import Connection, and_, func, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import people, wallet_outbox, wallet_receipts
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.social_wallet.contract import MealRegistration
from cloud_api.social_wallet.outbox import OutboxStatus
from cloud_api.social_wallet.sender import UNVERIFIED
from cloud_api.social_wallet.tabel import MealStatus, monthly_tabel

__all__ = [
    "DayLine",
    "Refused",
    "SendingState",
    "day_lines",
    "refused",
    "resend",
    "sending_state",
]

REFUSED_SHOWN = 500  # a page of refusals; a school-wide refusal (an unknown school) is one problem, not 10,000


@dataclass(frozen=True, slots=True)
class SendingState:
    """Where the school's sending stands."""

    pending: int
    refused: int
    receipted_in_month: int
    last_receipt_at: datetime | None
    failing_since: datetime | None  # the oldest first failure of a record still waiting
    last_error: str | None
    last_attempt_at: datetime | None

    @property
    def unverified(self) -> bool:
        """Whether the Wallet answers but its receipts do not verify (not an outage: a wrong key, or worse)."""
        return self.last_error == UNVERIFIED


def sending_state(conn: Connection, school_id: str, first: date, after: date) -> SendingState:
    """The status panel's figures: the queue now, the receipts of the month ``[first, after)``."""
    counts = dict(
        conn.execute(
            select(wallet_outbox.c.status, func.count())
            .where(
                wallet_outbox.c.school_id == school_id,
                wallet_outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.REJECTED.value]),
            )
            .group_by(wallet_outbox.c.status)
        ).all()
    )
    receipted = conn.execute(
        select(func.count()).where(
            wallet_outbox.c.school_id == school_id,
            wallet_outbox.c.status == OutboxStatus.DELIVERED.value,
            wallet_outbox.c.local_date >= first,
            wallet_outbox.c.local_date < after,
        )
    ).scalar_one()
    last_receipt = conn.execute(
        select(wallet_receipts.c.stored_at)
        .where(wallet_receipts.c.school_id == school_id)
        .order_by(wallet_receipts.c.stored_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    failing = conn.execute(
        select(wallet_outbox.c.failing_since, wallet_outbox.c.last_error, wallet_outbox.c.last_attempt_at)
        .where(
            wallet_outbox.c.school_id == school_id,
            wallet_outbox.c.status == OutboxStatus.PENDING.value,
            wallet_outbox.c.failing_since.is_not(None),
        )
        .order_by(wallet_outbox.c.last_attempt_at.desc())
        .limit(1)
    ).first()
    since = None
    if failing is not None:
        since = conn.execute(
            select(func.min(wallet_outbox.c.failing_since)).where(
                wallet_outbox.c.school_id == school_id, wallet_outbox.c.status == OutboxStatus.PENDING.value
            )
        ).scalar_one()
    return SendingState(
        pending=int(counts.get(OutboxStatus.PENDING.value, 0)),
        refused=int(counts.get(OutboxStatus.REJECTED.value, 0)),
        receipted_in_month=int(receipted),
        last_receipt_at=last_receipt,
        failing_since=since,
        last_error=failing.last_error if failing is not None else None,
        last_attempt_at=failing.last_attempt_at if failing is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Refused:
    """A record the Wallet refused, whose it is, and the IIN then and now."""

    record_id: UUID
    person_id: UUID
    name: str | None  # None: the person is no longer in the school's roster
    class_name: str | None
    day: date
    period: str
    reason: str
    message: str
    refused_at: datetime | None
    sent_iin: str
    iin_now: str | None

    @property
    def iin_changed(self) -> bool:
        """Whether the child's IIN was corrected since the record was sent."""
        return self.iin_now is not None and self.iin_now != self.sent_iin


def refused(
    conn: Connection, school_id: str, *, person_id: UUID | None = None, limit: int = REFUSED_SHOWN
) -> list[Refused]:
    """The school's refused records (of one person), newest meal first, at most ``limit``."""
    where = [wallet_outbox.c.school_id == school_id, wallet_outbox.c.status == OutboxStatus.REJECTED.value]
    if person_id is not None:
        where.append(wallet_outbox.c.person_id == person_id)
    query = (
        select(
            wallet_outbox.c.record_id,
            wallet_outbox.c.person_id,
            wallet_outbox.c.local_date,
            wallet_outbox.c.period,
            wallet_outbox.c.reason,
            wallet_outbox.c.message,
            wallet_outbox.c.settled_at,
            wallet_outbox.c.payload,
            people.c.last_name,
            people.c.first_name,
            people.c.class_name,
            people.c.iin,
        )
        .outerjoin(
            people, and_(people.c.school_id == wallet_outbox.c.school_id, people.c.id == wallet_outbox.c.person_id)
        )
        .where(*where)
        .order_by(wallet_outbox.c.local_date.desc(), people.c.last_name, people.c.first_name, wallet_outbox.c.period)
        .limit(limit)
    )
    return [
        Refused(
            record_id=row.record_id,
            person_id=row.person_id,
            name=f"{row.last_name} {row.first_name}" if row.last_name else None,
            class_name=row.class_name,
            day=row.local_date,
            period=row.period,
            reason=row.reason or "other",
            message=row.message or "",
            refused_at=row.settled_at,
            sent_iin=str((row.payload or {}).get("student_iin", "")),
            iin_now=row.iin,
        )
        for row in conn.execute(query)
    ]


def resend(conn: Connection, school_id: str, record_ids: Sequence[UUID], *, actor: str, now: datetime) -> int:
    """Put the refused ``record_ids`` of the school back in the queue with the child's IIN now; how many.

    ``not_found`` when a record is not the school's, ``wallet_record_not_refused`` when one is not
    refused (waiting already, or accepted: never registered twice), ``unknown_person`` when its
    child is no longer on the roster (there is no IIN to send). All or nothing.
    """
    if not record_ids:
        return 0
    rows = {
        row.record_id: row
        for row in conn.execute(
            select(
                wallet_outbox.c.record_id,
                wallet_outbox.c.person_id,
                wallet_outbox.c.status,
                wallet_outbox.c.reason,
                wallet_outbox.c.payload,
                people.c.iin,
                wallet_receipts.c.receipt_id,
            )
            .outerjoin(
                people,
                and_(people.c.school_id == wallet_outbox.c.school_id, people.c.id == wallet_outbox.c.person_id),
            )
            .outerjoin(
                wallet_receipts,
                and_(
                    wallet_receipts.c.school_id == wallet_outbox.c.school_id,
                    wallet_receipts.c.record_id == wallet_outbox.c.record_id,
                ),
            )
            .where(wallet_outbox.c.school_id == school_id, wallet_outbox.c.record_id.in_(list(record_ids)))
        )
    }
    audit: list[AuditEntry] = []
    for record_id in dict.fromkeys(record_ids):
        row = rows.get(record_id)
        if row is None:
            raise DomainError("not_found", f"no Social Wallet record {record_id} at {school_id}")
        if row.status != OutboxStatus.REJECTED.value or row.receipt_id is not None:
            raise DomainError("wallet_record_not_refused", f"record {record_id} is {row.status}")
        if row.iin is None:
            raise DomainError("unknown_person", f"the child of record {record_id} is not on the roster")
        payload = _rebuilt(dict(row.payload), row.iin)
        done = conn.execute(
            update(wallet_outbox)
            .where(
                wallet_outbox.c.school_id == school_id,
                wallet_outbox.c.record_id == record_id,
                wallet_outbox.c.status == OutboxStatus.REJECTED.value,  # a concurrent resend did it already
            )
            .values(
                payload=payload,
                status=OutboxStatus.PENDING.value,
                reason=None,
                message=None,
                settled_at=None,
                claimed_until=None,
                last_error=None,
                failing_since=None,
            )
        )
        if done.rowcount != 1:
            raise DomainError("wallet_record_not_refused", f"record {record_id} was sent again meanwhile")
        audit.append(
            AuditEntry(
                "update",
                "wallet_record",
                str(record_id),
                {
                    "status": OutboxStatus.REJECTED.value,
                    "reason": row.reason,
                    "student_iin": row.payload.get("student_iin"),
                },
                {"status": OutboxStatus.PENDING.value, "student_iin": row.iin, "person_id": str(row.person_id)},
            )
        )
    write_audit(conn, school_id, actor, now, audit)
    return len(audit)


def _rebuilt(payload: dict[str, Any], iin: str) -> dict[str, Any]:
    """The record as first sent with the child's IIN now: the prices and the meal stay as they were."""
    try:
        return MealRegistration.model_validate({**payload, "student_iin": iin}).model_dump(mode="json")
    except ValidationError as exc:
        raise DomainError("wallet_invalid_record", str(exc)[:400]) from exc


@dataclass(slots=True)
class DayLine:
    """A child's day in the табель: the meals served, the ones the Wallet receipted, the rest's states."""

    person_id: UUID
    name: str
    class_name: str | None
    day: date
    served: list[str] = field(default_factory=list)  # periods
    receipted: list[str] = field(default_factory=list)
    open: list[tuple[str, MealStatus, str | None]] = field(default_factory=list)  # (period, status, reason)

    @property
    def difference(self) -> int:
        """Meals served that the Wallet has not (yet) confirmed."""
        return len(self.served) - len(self.receipted)


def day_lines(conn: Connection, school_id: str, month: str) -> list[DayLine]:
    """The month's табель by child (by name) and day: served against receipted. ``ValueError`` for a bad month."""
    lines: list[DayLine] = []
    for child in monthly_tabel(conn, school_id, month):
        by_day: dict[date, DayLine] = {}
        for meal in child.meals:
            line = by_day.get(meal.day)
            if line is None:
                line = by_day[meal.day] = DayLine(child.person_id, child.name, child.class_name, meal.day)
                lines.append(line)
            line.served.append(meal.period)
            if meal.status is MealStatus.DELIVERED:
                line.receipted.append(meal.period)
            else:
                line.open.append((meal.period, meal.status, meal.reason))
    return lines
