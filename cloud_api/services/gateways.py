"""Gateways and their signing keys. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from cloud_api.db.schema import gateways

__all__ = ["GatewayRecord", "find_gateway", "register_gateway"]


@dataclass(frozen=True, slots=True)
class GatewayRecord:
    """A registered gateway: its school and its HMAC key."""

    gateway_id: str
    school_id: str
    key: bytes


def register_gateway(conn: Connection, gateway_id: str, school_id: str, key: str) -> None:
    """Register a gateway, or rotate its key (its school stays what it was)."""
    existing = conn.execute(select(gateways.c.gateway_id).where(gateways.c.gateway_id == gateway_id)).first()
    if existing:
        conn.execute(gateways.update().where(gateways.c.gateway_id == gateway_id).values(key=key))
    else:
        conn.execute(
            gateways.insert().values(gateway_id=gateway_id, school_id=school_id, key=key, created_at=datetime.now(UTC))
        )


def find_gateway(conn: Connection, gateway_id: str) -> GatewayRecord | None:
    """The gateway with this id, or None."""
    row = conn.execute(
        select(gateways.c.school_id, gateways.c.key).where(gateways.c.gateway_id == gateway_id)
    ).first()
    return GatewayRecord(gateway_id, row.school_id, row.key.encode()) if row else None
