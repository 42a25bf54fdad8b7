"""Every API call of an outside system: counted against its limit, then journalled.

The limit is the client's ``rate_per_minute``, counted per UTC minute in the database
(``integration_rate``: one row a client a minute, incremented by one upsert), so that several API
processes behind the load balancer share it. A call over the limit is refused with the seconds
left in the minute; the counter of the minute goes on counting it (a client that hammers is not
rewarded). Each call, answered or refused, is a row of ``integration_calls`` that the client's
office page shows; of the calls over the limit only the minute's first, so that a system hammering
away fills neither the journal nor the page. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, delete, func, insert, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import integration_calls, integration_rate

__all__ = ["CALLS_KEPT", "Call", "Counted", "count_call", "last_calls", "recent_calls", "record_call", "refused_lately"]

_KEEP_COUNTERS = timedelta(minutes=10)
# How long a client's calls stay in its journal: as long as the packet journal keeps a gateway's
# batch by default (``packet_retention_days``), so that every exchange with the outside is kept alike.
CALLS_KEPT = timedelta(days=400)


@dataclass(frozen=True)
class Call:
    """One journalled call."""

    at: datetime
    method: str
    path: str
    school_id: str | None
    status: int
    code: str | None
    rows: int


@dataclass(frozen=True)
class Counted:
    """One call counted: the client's calls this minute with it, and the seconds to wait when over the limit."""

    calls: int
    retry_after_s: int | None

    def first_over(self, limit: int) -> bool:
        """Whether this is the minute's first call over ``limit`` (the one the journal keeps)."""
        return self.calls == limit + 1


def count_call(conn: Connection, client_id: str, limit: int, now: datetime) -> Counted:
    """Count one call of ``client_id`` in this minute, and whether it is over ``limit``."""
    minute = now.replace(second=0, microsecond=0)
    upsert = dialect_insert(conn, integration_rate).values(client_id=client_id, minute=minute, calls=1)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["client_id", "minute"], set_={"calls": integration_rate.c.calls + 1}
        )
    )
    calls = conn.execute(
        select(integration_rate.c.calls).where(
            integration_rate.c.client_id == client_id, integration_rate.c.minute == minute
        )
    ).scalar_one()
    if calls == 1:  # the minute's first call: tidy the client's old counters and journal (one shard, indexed)
        conn.execute(
            delete(integration_rate).where(
                integration_rate.c.client_id == client_id, integration_rate.c.minute < minute - _KEEP_COUNTERS
            )
        )
        conn.execute(
            delete(integration_calls).where(
                integration_calls.c.client_id == client_id, integration_calls.c.at < now - CALLS_KEPT
            )
        )
    return Counted(calls, None if calls <= limit else max(1, 60 - now.second))


def record_call(
    conn: Connection,
    client_id: str,
    at: datetime,
    *,
    method: str,
    path: str,
    school_id: str | None,
    status: int,
    rows: int = 0,
    code: str | None = None,
) -> None:
    """Journal one call of ``client_id`` (answered or refused)."""
    conn.execute(
        insert(integration_calls).values(
            client_id=client_id,
            id=UUID(str(uuid_utils.uuid7())),
            at=at,
            method=method[:8],
            path=path[:256],
            school_id=school_id[:64] if school_id else None,
            status=status,
            code=code,
            rows=rows,
        )
    )


def recent_calls(conn: Connection, client_id: str, *, limit: int = 50, refused_only: bool = False) -> list[Call]:
    """The newest calls of ``client_id``, newest first (only those refused, when asked)."""
    query = select(integration_calls).where(integration_calls.c.client_id == client_id)
    if refused_only:
        query = query.where(integration_calls.c.status >= 400)
    rows = conn.execute(query.order_by(integration_calls.c.at.desc()).limit(limit))
    return [Call(r.at, r.method, r.path, r.school_id, r.status, r.code, r.rows) for r in rows]


def last_calls(conn: Connection, client_ids: Iterable[str]) -> dict[str, datetime]:
    """When each of ``client_ids`` last called (those that never did are absent)."""
    ids = list(client_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(integration_calls.c.client_id, func.max(integration_calls.c.at))
        .where(integration_calls.c.client_id.in_(ids))
        .group_by(integration_calls.c.client_id)
    )
    return {client_id: at for client_id, at in rows}


def refused_lately(conn: Connection, client_id: str, path: str, now: datetime) -> bool:
    """Whether a call of ``client_id`` at ``path`` was refused in the last minute (and journalled)."""
    found = conn.execute(
        select(integration_calls.c.id)
        .where(integration_calls.c.client_id == client_id, integration_calls.c.at > now - timedelta(minutes=1))
        .where(integration_calls.c.path == path, integration_calls.c.status >= 400)
        .limit(1)
    ).first()
    return found is not None
