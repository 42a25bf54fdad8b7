"""The prepaid ledger read for the school's office: balances by class, low balances, a child's statement.

The ledger itself (what a top-up, a correction and a paid meal write) is :mod:`cloud_api.services.prepaid`;
this module only reads it, each page in a few queries whatever the school's size. A balance is the
sum of a child's entries; a statement is one child's entries of a period, with the balance before
it (the opening balance) and after each line (the running balance), in the order the ledger took
them. Days are local days (Asia/Almaty), never UTC days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Connection, and_, case, func, or_, select

from cloud_api.db.schema import balance_entries, events, guardianships, people
from shared.localtime import LOCAL_TZ

__all__ = [
    "BalanceQuery",
    "ClassTotal",
    "Statement",
    "StatementLine",
    "child_balances",
    "class_totals",
    "guardians_of",
    "normal_receipt",
    "statement_between",
    "tenge",
]

Sort = Literal["class", "name", "balance"]


def tenge(tiyn: int) -> int | float:
    """A sum in tenge as a spreadsheet's number: whole tenge as an integer, else with its tiyn."""
    return tiyn // 100 if tiyn % 100 == 0 else tiyn / 100


def normal_receipt(text: str) -> str:
    """A receipt's number as stored and compared: no ``№``, spaces collapsed, capitals (``кб-15`` is ``КБ-15``)."""
    return " ".join(text.strip().lstrip("№#").split()).upper()


def _balances(school_id: str) -> Any:
    """Each of the school's children's balance, a subquery of the ledger (children without an entry are not in it)."""
    c = balance_entries.c
    # The school inside the subquery: summed otherwise over every school's ledger (on Citus, every shard).
    return (
        select(c.school_id, c.person_id, func.sum(c.amount_tiyn).label("balance"))
        .where(c.school_id == school_id)
        .group_by(c.school_id, c.person_id)
        .subquery("balances")
    )


@dataclass(frozen=True)
class ClassTotal:
    """One class's money: how many pupils, what they hold together, how many who pay from it are below the threshold."""

    class_name: str | None
    pupils: int
    total_tiyn: int
    below: int


def class_totals(conn: Connection, school_id: str, threshold_tiyn: int) -> list[ClassTotal]:
    """Every class of the school's pupils at school now, by grade and name, with its total balance."""
    sums = _balances(school_id)
    balance = func.coalesce(sums.c.balance, 0)
    has_ledger = sums.c.person_id.is_not(None)
    rows = conn.execute(
        select(
            people.c.class_name,
            func.min(people.c.grade).label("grade"),
            func.count().label("pupils"),
            func.coalesce(func.sum(balance), 0).label("total"),
            # Below the threshold among those who pay from the balance (as the low-balance list counts
            # by default): a pupil who never had a ledger entry is not a family to call.
            func.coalesce(func.sum(case((and_(has_ledger, balance < threshold_tiyn), 1), else_=0)), 0).label("below"),
        )
        .select_from(people)
        .outerjoin(sums, and_(sums.c.school_id == people.c.school_id, sums.c.person_id == people.c.id))
        .where(*_pupils(school_id))
        .group_by(people.c.class_name)
    ).all()
    ordered = sorted(rows, key=lambda r: (r.grade is None, r.grade or 0, r.class_name or ""))
    return [ClassTotal(r.class_name, int(r.pupils), int(r.total), int(r.below)) for r in ordered]


def _pupils(school_id: str) -> tuple[Any, ...]:
    return (people.c.school_id == school_id, people.c.role == "student", people.c.active)


@dataclass(frozen=True)
class BalanceQuery:
    """Which children's balances to list, and in what order."""

    class_name: str | None = None
    q: str | None = None  # part of a name
    below_tiyn: int | None = None  # only those below this
    with_ledger_only: bool = False  # only those who ever had money on the balance
    sort: Sort = "class"
    descending: bool = False
    limit: int = 50
    offset: int = 0


def child_balances(conn: Connection, school_id: str, query: BalanceQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of pupils with their balances, and how many match in all."""
    sums = _balances(school_id)
    balance = func.coalesce(sums.c.balance, 0)
    conditions: list[Any] = list(_pupils(school_id))
    if query.class_name:
        conditions.append(func.lower(people.c.class_name) == query.class_name.strip().lower())
    if query.q:
        for word in query.q.split():
            like = f"%{word.lower()}%"
            conditions.append(
                or_(func.lower(people.c.last_name).like(like), func.lower(people.c.first_name).like(like))
            )
    if query.below_tiyn is not None:
        conditions.append(balance < query.below_tiyn)
    if query.with_ledger_only:
        conditions.append(sums.c.person_id.is_not(None))
    joined = people.outerjoin(sums, and_(sums.c.school_id == people.c.school_id, sums.c.person_id == people.c.id))
    total = conn.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one()
    names = (people.c.last_name, people.c.first_name, people.c.id)
    order: tuple[Any, ...] = {
        "class": (people.c.grade, people.c.class_name, *names),
        "name": names,
        "balance": (balance, *names),
    }[query.sort]
    order = tuple(o.desc() if query.descending and i == 0 else o for i, o in enumerate(order))
    rows = conn.execute(
        select(
            people.c.id,
            people.c.last_name,
            people.c.first_name,
            people.c.middle_name,
            people.c.class_name,
            people.c.meal_category,
            balance.label("balance_tiyn"),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )
    found = [dict(r._mapping) for r in rows]
    for row in found:
        row["balance_tiyn"] = int(row["balance_tiyn"])  # PostgreSQL sums as numeric
    return found, int(total)


def guardians_of(conn: Connection, school_id: str, child_ids: Iterable[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """Each child's guardians (name, phone, e-mail as the roster has them), in one query."""
    ids = list(child_ids)
    found: dict[UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    link = guardianships.c
    rows = conn.execute(
        select(link.child_id, people.c.id, people.c.last_name, people.c.first_name, people.c.phone, people.c.email)
        .join(guardianships, and_(link.school_id == people.c.school_id, link.guardian_id == people.c.id))
        .where(people.c.school_id == school_id, link.child_id.in_(ids))
        .order_by(people.c.last_name, people.c.first_name)
    )
    for row in rows:
        found[row.child_id].append(dict(row._mapping))
    return found


@dataclass(frozen=True)
class StatementLine:
    """One line of a statement: what moved the balance, by how much, and the balance after it."""

    at: datetime  # local time: when the meal was served, or when the entry was recorded
    kind: str  # top_up | correction | meal
    amount_tiyn: int
    balance_tiyn: int
    period: str | None = None
    category: str | None = None
    dishes: tuple[str, ...] = ()
    method: str | None = None
    receipt: str | None = None
    paid_on: date | None = None
    note: str | None = None


@dataclass(frozen=True)
class Statement:
    """A child's statement from ``first`` to ``last`` (local days, both included)."""

    first: date
    last: date
    opening_tiyn: int
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def closing_tiyn(self) -> int:
        """The balance at the end of the period."""
        return self.lines[-1].balance_tiyn if self.lines else self.opening_tiyn

    @property
    def credited_tiyn(self) -> int:
        """What came in during the period (top-ups and corrections, either sign)."""
        return sum(line.amount_tiyn for line in self.lines if line.kind != "meal")

    @property
    def charged_tiyn(self) -> int:
        """What the meals of the period cost."""
        return -sum(line.amount_tiyn for line in self.lines if line.kind == "meal")

    @property
    def meals(self) -> int:
        """How many meals were charged in the period."""
        return sum(1 for line in self.lines if line.kind == "meal")


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


def statement_between(conn: Connection, school_id: str, child_id: UUID, first: date, last: date) -> Statement:
    """The child's ledger from ``first`` to ``last``: the opening balance, then each entry and the balance after it.

    Entries are taken by when the ledger took them (a meal: when its event reached the cloud), so
    that the running balance is the ledger's; a meal's line says when it was served.
    """
    c = balance_entries.c
    start, end = _instant(first), _instant(last + timedelta(days=1))
    mine = (c.school_id == school_id, c.person_id == child_id)
    opening = conn.execute(select(func.coalesce(func.sum(c.amount_tiyn), 0)).where(*mine, c.at < start)).scalar_one()
    served = and_(events.c.school_id == c.school_id, events.c.id == c.event_id)
    rows = conn.execute(
        select(
            c.kind,
            c.amount_tiyn,
            c.at,
            c.note,
            c.method,
            c.receipt,
            c.paid_on,
            events.c.occurred_at,
            events.c.meal,
        )
        .select_from(balance_entries.outerjoin(events, served))
        .where(*mine, c.at >= start, c.at < end)
        .order_by(c.id)
    )
    balance = int(opening)
    lines: list[StatementLine] = []
    for row in rows:
        balance += int(row.amount_tiyn)
        meal = row.meal or {}
        when = row.occurred_at if row.occurred_at is not None else row.at
        lines.append(
            StatementLine(
                at=when.astimezone(LOCAL_TZ),
                kind=row.kind,
                amount_tiyn=int(row.amount_tiyn),
                balance_tiyn=balance,
                period=meal.get("period") or (row.note if row.kind == "meal" else None),
                category=meal.get("category"),
                dishes=tuple(meal.get("dishes") or ()),
                method=row.method,
                receipt=row.receipt,
                paid_on=row.paid_on,
                note=row.note if row.kind != "meal" else None,
            )
        )
    return Statement(first, last, int(opening), lines)
