"""The leased queue every outbound delivery works from: claim, then settle once or release for a retry.

persist-queue's contract in one line of thought, over a table of the cloud's database: a row is
``pending`` until it is settled (sent, delivered, rejected…); a worker *claims* pending rows whose
lease column is empty or in the past by setting it to the lease's end, does the slow part outside
any transaction, then *settles* each row (a final state) or *releases* it (pending again, not
before a retry time). A worker that dies mid-send holds nothing: its lease runs out and another
claims the rows again, so each row is delivered at least once, and the receivers' idempotency keys
make that once in effect. On PostgreSQL the claim skips rows another process has locked
(``FOR UPDATE SKIP LOCKED``), so every API process can work the same queue side by side; on
Citus, which cannot lock rows across shards, the claiming UPDATE's own condition decides.

The queue knows nothing of what a row means: push notices, Social Wallet records and report
deliveries each name their table's columns in a :class:`LeasedQueue`. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Row, Table, and_, or_, select, tuple_, update

from cloud_api.db.distribution import is_citus

__all__ = ["PENDING", "LeasedQueue"]

PENDING = "pending"


@dataclass(frozen=True)
class LeasedQueue:
    """A table worked as a queue: ``key`` identifies a row, ``state`` is ``ready`` (``pending``) until
    settled, ``lease`` is when a ready row may be claimed (again), ``order`` is which rows go first.

    ``ready`` is another word than ``pending`` where the rows are not deliveries but what deliveries
    are worked by (an ``active`` webhook subscription, leased while its deliveries go out in order).
    """

    table: Table
    key: tuple[str, ...]
    state: str = "state"
    lease: str = "due_at"
    order: str = "id"
    ready: str = PENDING

    def _columns(self) -> tuple[Column[Any], Column[Any], Column[Any]]:
        c = self.table.c
        return c[self.state], c[self.lease], c[self.order]

    def _due(self, now: datetime, where: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
        state, lease, _ = self._columns()
        return and_(state == self.ready, or_(lease.is_(None), lease <= now), *where)

    def _is(self, keys: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
        columns = [self.table.c[name] for name in self.key]
        if len(columns) == 1:
            return columns[0].in_([k[0] for k in keys])
        return tuple_(*columns).in_([tuple(k) for k in keys])

    def claim(
        self,
        conn: Connection,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        where: Sequence[ColumnElement[bool]] = (),
        values: Mapping[str, Any] | None = None,
    ) -> list[Row[Any]]:
        """Lease up to ``limit`` due rows (pending, lease empty or run out), first in ``order`` first.

        ``where`` narrows what is due (the receivers configured now); ``values`` are set on each
        claimed row too (a try counted at claim). The whole rows are returned.
        """
        _, lease_column, order = self._columns()
        due = self._due(now, where)
        query = select(*(self.table.c[name] for name in self.key)).where(due).order_by(order).limit(limit)
        # Citus cannot lock rows of a query over every shard. There the claim relies on the UPDATE
        # below alone, as on SQLite: a row two workers selected goes to the one whose UPDATE still
        # finds it due (PostgreSQL evaluates the condition again after waiting for the other).
        if conn.dialect.name == "postgresql" and not is_citus(conn):
            query = query.with_for_update(skip_locked=True)
        keys = [tuple(row) for row in conn.execute(query)]
        if not keys:
            return []
        # The due condition again: on SQLite another process may have claimed a row between the
        # SELECT and this UPDATE; only the rows this UPDATE changed are ours.
        claimed = conn.execute(
            update(self.table)
            .where(self._is(keys), due)
            .values({lease_column: now + lease, **(values or {})})
            .returning(*self.table.c)
        ).all()
        position = {key: n for n, key in enumerate(keys)}
        return sorted(claimed, key=lambda row: position[tuple(getattr(row, name) for name in self.key)])

    def settle(
        self,
        conn: Connection,
        keys: Sequence[Sequence[Any]],
        state: str,
        *,
        also_from: Sequence[str] = (),
        **values: Any,
    ) -> int:
        """Give pending rows their final ``state`` (and ``values``); how many were settled.

        A row settled already (by another worker whose lease ran out) keeps what it has, unless its
        state is one of ``also_from`` (a receipt proves delivery even of a record refused before).
        """
        if not keys:
            return 0
        state_column, _, _ = self._columns()
        # The lease stays as it was: a settled row is never due again, whatever its lease says.
        result = conn.execute(
            update(self.table)
            .where(self._is(keys), state_column.in_([self.ready, *also_from]))
            .values({state_column: state, **values})
        )
        return int(result.rowcount)

    def release(
        self, conn: Connection, keys: Sequence[Sequence[Any]], *, retry_at: datetime | None, **values: Any
    ) -> None:
        """Give claimed rows back: pending, claimable again from ``retry_at`` (None: at once)."""
        if not keys:
            return
        state_column, lease_column, _ = self._columns()
        conn.execute(
            update(self.table)
            .where(self._is(keys), state_column == self.ready)
            .values({lease_column: retry_at, **values})
        )
