"""Paid meals: a guardian's daily limit and the prepaid ledger. The caller owns the transaction.

The balance is never a stored number that something overwrites: it is the sum of the ledger,
credits (an admin's top-up, a correction) minus charges (a paid meal's event, written once per
event at ingest). A credit and a limit take a roster version, so that the gateway learns them at
its next pull; a charge does not, because the gateway has counted it already (it made the meal).
Payment processing is out of scope: a top-up records money the school received.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, case, func, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import balance_entries, daily_limits, people
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.consent import require_guardian
from cloud_api.services.history import in_force
from cloud_api.services.roster_versions import next_version
from shared.contract import Decision, Event, EventKind

__all__ = [
    "Account",
    "Balance",
    "EntryKind",
    "accounts_of",
    "balance_of",
    "charge_meals",
    "credit_recorded",
    "daily_limits_of",
    "receipt_recorded",
    "record_credit",
    "set_daily_limit",
    "statement",
]

MAX_CREDIT_TIYN = 10_000_000_00  # ten million tenge: a typing slip, not a top-up


class EntryKind(StrEnum):
    """What moved money on a child's prepaid balance."""

    TOP_UP = "top_up"  # money the school received for the child
    CORRECTION = "correction"  # an admin's fix, either sign
    MEAL = "meal"  # a paid (or the family's share of a discounted) meal


@dataclass(frozen=True, slots=True)
class Account:
    """A child's prepaid balance: credited minus charged, in tiyn."""

    credited_tiyn: int
    charged_tiyn: int

    @property
    def balance_tiyn(self) -> int:
        """What is left to spend."""
        return self.credited_tiyn - self.charged_tiyn


@dataclass(frozen=True, slots=True)
class Balance:
    """A child's prepaid balance, the guardian's daily limit, and (when asked) the newest entries."""

    account: Account
    daily_limit_tiyn: int | None
    entries: list[dict[str, Any]]


def balance_of(conn: Connection, school_id: str, child_id: UUID, *, with_entries: bool = False) -> Balance:
    """What ``child_id`` has to spend, the daily limit in force, and the statement's newest lines."""
    account = accounts_of(conn, school_id, [child_id]).get(child_id, Account(0, 0))
    limit = daily_limits_of(conn, school_id, [child_id]).get(child_id)
    return Balance(account, limit, statement(conn, school_id, child_id) if with_entries else [])


def set_daily_limit(
    conn: Connection, school_id: str, child_id: UUID, guardian_id: UUID, limit_tiyn: int | None, *, actor: str
) -> None:
    """A guardian sets (or lifts, with None) the most their child's paid meals may cost in a day."""
    require_guardian(conn, school_id, guardian_id, child_id)
    before = daily_limits_of(conn, school_id, [child_id]).get(child_id)
    if before == limit_tiyn:
        return
    now = datetime.now(UTC)
    conn.execute(
        insert(daily_limits).values(
            school_id=school_id,
            child_id=child_id,
            limit_tiyn=limit_tiyn,
            version=next_version(conn, school_id),
            at=now,
            actor=actor,
        )
    )
    entry = AuditEntry("update", "daily_limit", str(child_id), {"limit_tiyn": before}, {"limit_tiyn": limit_tiyn})
    write_audit(conn, school_id, actor, now, [entry])


def daily_limits_of(conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None) -> dict[UUID, int]:
    """The limits in force per child (children without a limit are left out)."""
    return {k: int(v) for k, v in in_force(conn, daily_limits, school_id, "child_id", "limit_tiyn", child_ids).items()}


def record_credit(
    conn: Connection,
    school_id: str,
    person_id: UUID,
    amount_tiyn: int,
    kind: EntryKind,
    *,
    actor: str,
    note: str | None = None,
    method: str | None = None,
    receipt: str | None = None,
    paid_on: date | None = None,
    key: UUID | None = None,
) -> Account:
    """Credit a student's balance (a top-up is positive; a correction may be either); the new balance.

    A top-up recorded in the office says how it was paid (``method``), its ``receipt`` number and
    the day it was paid; a receipt number already recorded in the school is refused
    (``receipt_already_recorded``), so that a form sent twice never credits twice. A credit with
    no receipt (a correction) carries the ``key`` its form was given when checked, kept as the
    entry's ``event_id`` (unique in a school): a credit whose key is recorded already is not
    recorded again, so a double click or a form sent again credits once.
    """
    if kind is EntryKind.MEAL:
        raise ValueError("a meal is charged from its event, not entered by hand")
    if amount_tiyn == 0 or abs(amount_tiyn) > MAX_CREDIT_TIYN or (kind is EntryKind.TOP_UP and amount_tiyn < 0):
        raise DomainError("bad_amount")
    if receipt is not None and receipt_recorded(conn, school_id, receipt) is not None:
        raise DomainError("receipt_already_recorded", receipt=receipt)
    if key is not None and credit_recorded(conn, school_id, key):
        return accounts_of(conn, school_id, [person_id]).get(person_id, Account(0, 0))
    student = conn.execute(
        select(people.c.id).where(
            people.c.school_id == school_id, people.c.id == person_id, people.c.role == "student", people.c.active
        )
    ).first()
    if student is None:
        raise DomainError("unknown_person")
    now = datetime.now(UTC)
    conn.execute(
        insert(balance_entries).values(
            school_id=school_id,
            person_id=person_id,
            kind=kind.value,
            amount_tiyn=amount_tiyn,
            event_id=key,
            note=note,
            version=next_version(conn, school_id),
            at=now,
            actor=actor,
            method=method,
            receipt=receipt,
            paid_on=paid_on,
        )
    )
    after: dict[str, Any] = {"kind": kind.value, "amount_tiyn": amount_tiyn}
    extra = {"note": note, "method": method, "receipt": receipt, "paid_on": paid_on and paid_on.isoformat()}
    after.update({k: v for k, v in extra.items() if v is not None})
    entry = AuditEntry("create", "balance_entry", str(person_id), None, after)
    write_audit(conn, school_id, actor, now, [entry])
    return accounts_of(conn, school_id, [person_id]).get(person_id, Account(0, 0))


def credit_recorded(conn: Connection, school_id: str, key: UUID) -> bool:
    """Whether the school's ledger holds the credit given ``key`` (its form was recorded already)."""
    c = balance_entries.c
    found = conn.execute(select(c.id).where(c.school_id == school_id, c.event_id == key).limit(1)).first()
    return found is not None


def receipt_recorded(conn: Connection, school_id: str, receipt: str) -> dict[str, Any] | None:
    """The entry that recorded ``receipt`` in the school (whose, how much, when), or None."""
    c = balance_entries.c
    row = conn.execute(
        select(c.person_id, c.amount_tiyn, c.at, c.paid_on).where(c.school_id == school_id, c.receipt == receipt)
    ).first()
    return dict(row._mapping) if row is not None else None


def charge_meals(conn: Connection, school_id: str, events: Sequence[Event], *, at: datetime) -> list[UUID]:
    """Charge the paid meals among newly stored ``events`` (idempotent per event); the child of each charge made.

    An event without identity (a child without consent) cannot be charged here: its gateway
    counts it against the balance it holds, and the guardian's statement does not show it.
    """
    rows = [row for e in events if _is_charge(e) and (row := _charge(school_id, e, at)) is not None]
    if not rows:
        return []
    stmt = dialect_insert(conn, balance_entries).on_conflict_do_nothing(index_elements=["school_id", "event_id"])
    return list(conn.execute(stmt.returning(balance_entries.c.person_id), rows).scalars())


def _is_charge(e: Event) -> bool:
    granted_meal = e.kind is EventKind.MEAL and e.decision is Decision.GRANTED
    return granted_meal and e.person_id is not None and e.meal is not None and e.meal.price_tiyn > 0


def _charge(school_id: str, e: Event, at: datetime) -> dict[str, Any] | None:
    assert e.meal is not None and e.person_id is not None
    try:
        person_id = UUID(e.person_id)
    except ValueError:
        return None  # not a roster person (a gateway judging without a roster names nobody this way)
    return {
        "school_id": school_id,
        "person_id": person_id,
        "kind": EntryKind.MEAL.value,
        "amount_tiyn": -e.meal.price_tiyn,
        "event_id": e.id,
        "note": e.meal.period,
        "version": None,
        "at": at,
        "actor": e.gateway_id,
    }


def accounts_of(conn: Connection, school_id: str, person_ids: Iterable[UUID] | None = None) -> dict[UUID, Account]:
    """The balance of every child with a ledger entry (or of ``person_ids``), in one query."""
    # A negative correction is a credit taken back, not a charge: the gateway replaces the cloud's
    # charges with its own count when that is larger, and must never drop a correction with them.
    amount, meal = balance_entries.c.amount_tiyn, balance_entries.c.kind == EntryKind.MEAL.value
    query = (
        select(
            balance_entries.c.person_id,
            func.coalesce(func.sum(case((meal, 0), else_=amount)), 0).label("credited"),
            func.coalesce(func.sum(case((meal, -amount), else_=0)), 0).label("charged"),
        )
        .where(balance_entries.c.school_id == school_id)
        .group_by(balance_entries.c.person_id)
    )
    if person_ids is not None:
        query = query.where(balance_entries.c.person_id.in_(list(person_ids)))
    return {row.person_id: Account(int(row.credited), int(row.charged)) for row in conn.execute(query)}


def statement(conn: Connection, school_id: str, person_id: UUID, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` ledger entries of one child: what came in, what each meal cost."""
    rows = conn.execute(
        select(balance_entries.c.kind, balance_entries.c.amount_tiyn, balance_entries.c.note, balance_entries.c.at)
        .where(balance_entries.c.school_id == school_id, balance_entries.c.person_id == person_id)
        .order_by(balance_entries.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]
