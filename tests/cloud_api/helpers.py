"""Builders shared by the cloud API tests: events, batches, signature headers, row counts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Table, func, select
from uuid_utils import uuid7

from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, INGEST_PATH, sign

__all__ = ["ADMIN", "KEY", "KEY2", "admin", "batch_body", "count", "event", "signed"]

KEY = "gateway-secret-key-1"
KEY2 = "gateway-secret-key-2"
ADMIN = "admin-token-for-tests"


def event(seq: int, *, at: str = "2026-11-20T08:00:00+05:00", school: str = "s1", **fields: Any) -> dict[str, Any]:
    """An entry event of gateway gw1 as the gateway would send it; ``fields`` override."""
    return {
        "id": str(uuid7()),
        "seq": seq,
        "school_id": school,
        "gateway_id": "gw1",
        "device_id": "r1",
        "kind": "entry",
        "occurred_at": at,
        "decision": "granted",
        "reason": "no_roster",
        **fields,
    }


def batch_body(events: list[dict[str, Any]], gateway: str = "gw1") -> bytes:
    """A batch's JSON bytes; a fresh ``sent_at`` each call, as the forwarder's retries have."""
    return json.dumps({"gateway_id": gateway, "sent_at": datetime.now(UTC).isoformat(), "events": events}).encode()


def signed(body: bytes, *, key: str = KEY, gateway: str = "gw1", ts: int | None = None) -> dict[str, str]:
    """The headers a gateway sends with ``body``."""
    timestamp = str(ts if ts is not None else int(time.time()))
    return {
        HEADER_GATEWAY: gateway,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(key.encode(), "POST", INGEST_PATH, timestamp, body),
        "Content-Type": "application/json",
    }


def admin(token: str = ADMIN) -> dict[str, str]:
    """The admin API's Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def count(app: FastAPI, table: Table) -> int:
    """Rows in ``table`` of the app's database."""
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
