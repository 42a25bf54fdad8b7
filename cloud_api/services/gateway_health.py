"""The gateways' heartbeats: each gateway's last figures, and a day of them. The caller owns the transaction.

A heartbeat is verified like an ingest batch (:mod:`cloud_api.services.signatures`) and stored in
one insert and one upsert: the insert into ``gateway_heartbeats`` is also its replay guard (its key
is the school, the gateway and the signature; a signature received twice inserts nothing and is
refused), the upsert replaces the gateway's row of ``gateway_health``. The history is pruned past
its retention by :func:`prune_heartbeats` (the :class:`HeartbeatPruner` worker of every API process).

The clock offset stored is the heartbeat's ``sent_at`` (the gateway's clock) minus its
``received_at`` (the cloud's): the gateway's error plus the one-way trip. The gateway's own
measure (from the cloud's answer, the half round trip taken off) is kept beside it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import gateway_health, gateway_heartbeats
from cloud_api.services.signatures import Refusal, Refused, SignedBody
from shared.contract import Heartbeat, HeartbeatAnswer, PartState

__all__ = [
    "HeartbeatPruner",
    "latest_heartbeat",
    "parse_heartbeat",
    "prune_heartbeats",
    "store_heartbeat",
]

log = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 20


def parse_heartbeat(body: bytes) -> Heartbeat:
    """The heartbeat in ``body``, or ``Refused(invalid_batch)`` naming each field at fault."""
    try:
        return Heartbeat.model_validate_json(body)
    except ValidationError as exc:
        errors = [(".".join(str(part) for part in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        field, message = errors[0]
        raise Refused(Refusal.INVALID_BATCH, f"heartbeat {field}: {message}", errors[:MAX_REPORTED_ERRORS]) from None


def _not_ok(beat: Heartbeat) -> dict[str, str] | None:
    # Only what is wrong goes into the history: most heartbeats of a day store nothing here.
    found = {name: state.value for name, state in beat.parts.items() if state not in (PartState.OK, PartState.OFF)}
    found.update({f"net:{name}": PartState.OFFLINE.value for name, up in beat.links.items() if not up})
    return found or None


_LATEST = [c.name for c in gateway_health.columns if c.name not in ("school_id", "gateway_id")]


@cache
def _dialect_statements(dialect: str) -> tuple[Any, Any]:
    # Built once a dialect and given their values as parameters: every gateway's heartbeat every
    # minute would otherwise build, coerce and cache-key two statements of twenty columns each time.
    conn = SimpleNamespace(dialect=SimpleNamespace(name=dialect))
    # ON CONFLICT DO NOTHING decides a replay (or a race of two) without an exception, which on
    # PostgreSQL would abort the transaction.
    history = (
        dialect_insert(conn, gateway_heartbeats)  # type: ignore[arg-type]
        .on_conflict_do_nothing()
        .returning(gateway_heartbeats.c.received_at)
    )
    upsert = dialect_insert(conn, gateway_health)  # type: ignore[arg-type]
    latest = upsert.on_conflict_do_update(
        index_elements=[gateway_health.c.school_id, gateway_health.c.gateway_id],
        set_={name: upsert.excluded[name] for name in _LATEST},
    )
    return history, latest


def _statements(conn: Connection) -> tuple[Any, Any]:
    return _dialect_statements(conn.dialect.name)


def store_heartbeat(
    conn: Connection, signed: SignedBody, gateway_id: str, beat: Heartbeat, received_at: datetime
) -> HeartbeatAnswer:
    """Keep ``beat`` in the day's history and as its gateway's latest; the cloud's clock in answer.

    ``gateway_id`` is the path's: it, the body's and the signer's must be one gateway. Raises
    ``Refused`` (and writes nothing the caller should commit) for another gateway or a replay.
    """
    gateway = signed.gateway
    if gateway_id != gateway.gateway_id or beat.gateway_id != gateway.gateway_id:
        message = f"the heartbeat names {beat.gateway_id!r} at {gateway_id!r}, the signer is {gateway.gateway_id!r}"
        raise Refused(Refusal.GATEWAY_MISMATCH, message)
    offset = (beat.sent_at - received_at).total_seconds()
    moving: dict[str, Any] = {
        "received_at": received_at,
        "clock_offset_s": offset,
        "cpu_ratio": beat.cpu_ratio,
        "memory_used_bytes": beat.memory_used_bytes,
        "disk_free_bytes": beat.disk_free_bytes,
        "disk_free_ratio": beat.disk_free_ratio,
        "net_sent_bytes": beat.net_sent_bytes,
        "net_received_bytes": beat.net_received_bytes,
        "outbox_pending": beat.outbox_pending,
        "oldest_pending_age_s": beat.oldest_pending_age_s,
    }
    insert_history, upsert_latest = _statements(conn)
    inserted = conn.execute(
        insert_history,
        {
            "school_id": gateway.school_id,
            "gateway_id": gateway.gateway_id,
            "signature": signed.signature,
            "not_ok": _not_ok(beat),
            **moving,
        },
    ).first()
    if inserted is None:
        raise Refused(Refusal.REPLAYED, "this signed heartbeat was already received")
    conn.execute(
        upsert_latest,
        {
            "school_id": gateway.school_id,
            "gateway_id": gateway.gateway_id,
            **moving,
            "sent_at": beat.sent_at,
            "reported_clock_offset_s": beat.clock_offset_s,
            "version": beat.version,
            "uptime_s": beat.uptime_s,
            "memory_total_bytes": beat.memory_total_bytes,
            "links": beat.links,
            "parts": {name: state.value for name, state in beat.parts.items()},
            "outbox_rejected": beat.outbox_rejected,
        },
    )
    return HeartbeatAnswer(received_at=received_at, clock_offset_s=offset)


def latest_heartbeat(conn: Connection, school_id: str, gateway_id: str) -> dict[str, Any] | None:
    """The gateway's row of ``gateway_health`` as a dict, or None when it never sent a heartbeat."""
    row = conn.execute(
        select(gateway_health).where(gateway_health.c.school_id == school_id, gateway_health.c.gateway_id == gateway_id)
    ).first()
    return dict(row._mapping) if row is not None else None


def prune_heartbeats(conn: Connection, now: datetime, retention: timedelta) -> int:
    """Delete the heartbeats received before ``now - retention``; how many went.

    Swept every few minutes, each sweep deletes a few minutes of heartbeats along the
    ``received_at`` index (on Citus, on every shard at once).
    """
    return conn.execute(delete(gateway_heartbeats).where(gateway_heartbeats.c.received_at < now - retention)).rowcount


class HeartbeatPruner:
    """A background worker: every ``interval_s``, the heartbeats past the retention are deleted.

    Every API process runs one; two sweeping at once only delete the same rows once.
    """

    name = "heartbeat history"

    def __init__(self, engine: Engine, retention: timedelta, *, interval_s: float = 600.0) -> None:
        self.engine = engine
        self.retention = retention
        self.interval_s = interval_s

    async def round(self) -> bool:
        """Delete one batch; True when there may be more at once."""

        def sweep() -> int:
            with self.engine.begin() as conn:
                return prune_heartbeats(conn, datetime.now(UTC), self.retention)

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.info("heartbeat history: %d past the retention deleted", removed)
        return False

    async def aclose(self) -> None:
        """Nothing to close."""
