"""Store a verified batch: idempotent on event id, one answer per event. The caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from cloud_api.contract import Batch, BatchResult, EventResult, ResultStatus
from cloud_api.db.schema import events, packets
from cloud_api.services.gateways import GatewayRecord

__all__ = ["PacketMeta", "store_batch"]

LOCAL_TZ = ZoneInfo("Asia/Almaty")
PacketMeta = dict[str, Any]


def store_batch(
    conn: Connection, gateway: GatewayRecord, batch: Batch, packet: PacketMeta, received_at: datetime
) -> BatchResult:
    """Insert the batch's new events, journal the packet, and answer for every event in order."""
    reasons: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for event in batch.events:
        if event.gateway_id != gateway.gateway_id:
            reasons[str(event.id)] = "gateway_mismatch"
        elif event.school_id != gateway.school_id:
            reasons[str(event.id)] = "school_mismatch"
        else:
            offset = event.occurred_at.utcoffset()
            rows.append(
                {
                    **event.model_dump(exclude={"meal", "occurred_at"}),
                    "meal": event.meal.model_dump(mode="json") if event.meal else None,
                    "occurred_at": event.occurred_at,
                    "utc_offset_minutes": int(offset.total_seconds() // 60) if offset else 0,
                    "local_date": event.occurred_at.astimezone(LOCAL_TZ).date(),
                    "received_at": received_at,
                }
            )
    journal = conn.execute(
        packets.insert().values(direction="in", received_at=received_at, status_code=200, **packet,
                                accepted=0, duplicates=0, rejected=len(reasons))
    )  # fmt: skip
    batch_id = int(journal.inserted_primary_key[0])
    accepted: set[str] = set()
    if rows:
        for row in rows:
            row["batch_id"] = batch_id
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(events).on_conflict_do_nothing(index_elements=["school_id", "id"]).returning(events.c.id)
        accepted = {str(r[0]) for r in conn.execute(stmt, rows)}
    results = []
    for event in batch.events:
        key = str(event.id)
        if key in reasons:
            results.append(EventResult(id=event.id, status=ResultStatus.REJECTED, reason=reasons[key]))
        elif key in accepted:
            results.append(EventResult(id=event.id, status=ResultStatus.ACCEPTED))
        else:
            results.append(EventResult(id=event.id, status=ResultStatus.DUPLICATE))
    answer = BatchResult(batch_id=batch_id, received_at=received_at, results=results)
    conn.execute(
        packets.update()
        .where(packets.c.id == batch_id)
        .values(
            response=answer.model_dump_json(),
            accepted=len(accepted),
            duplicates=len(rows) - len(accepted),
        )
    )
    return answer
