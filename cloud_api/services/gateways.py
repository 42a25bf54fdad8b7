"""Gateways and their signing keys. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from cloud_api.db.schema import gateways

__all__ = ["MIN_KEY_CHARS", "GatewayConflict", "GatewayRecord", "find_gateway", "gateways_of", "register_gateway"]

MIN_KEY_CHARS = 16


class GatewayConflict(ValueError):
    """The gateway is registered to another school: moving it is not a key rotation."""


@dataclass(frozen=True, slots=True)
class GatewayRecord:
    """A registered gateway: its school and its HMAC key."""

    gateway_id: str
    school_id: str
    key: bytes


def register_gateway(conn: Connection, gateway_id: str, school_id: str, key: str) -> bool:
    """Register a gateway with its HMAC key, or rotate the key of a known one.

    Returns True when the gateway is new. Raises ``GatewayConflict`` when it is registered to
    another school (its stored events are keyed by that school), and ``ValueError`` for a key
    shorter than ``MIN_KEY_CHARS``. Signatures made with the old key fail from the commit on.
    """
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"a gateway key needs at least {MIN_KEY_CHARS} characters")
    current = conn.execute(select(gateways.c.school_id).where(gateways.c.gateway_id == gateway_id)).first()
    if current is None:
        conn.execute(
            gateways.insert().values(gateway_id=gateway_id, school_id=school_id, key=key, created_at=datetime.now(UTC))
        )
        return True
    if current.school_id != school_id:
        raise GatewayConflict(f"gateway {gateway_id!r} belongs to school {current.school_id!r}, not {school_id!r}")
    conn.execute(gateways.update().where(gateways.c.gateway_id == gateway_id).values(key=key))
    return False


def find_gateway(conn: Connection, gateway_id: str) -> GatewayRecord | None:
    """The gateway with this id, or None."""
    row = conn.execute(select(gateways.c.school_id, gateways.c.key).where(gateways.c.gateway_id == gateway_id)).first()
    return GatewayRecord(gateway_id, row.school_id, row.key.encode()) if row else None


def gateways_of(conn: Connection, school_id: str) -> list[str]:
    """The ids of the gateways registered for a school."""
    rows = conn.execute(select(gateways.c.gateway_id).where(gateways.c.school_id == school_id))
    return sorted(row.gateway_id for row in rows)
