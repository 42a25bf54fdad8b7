"""Who sent a request, checked before its body is read as JSON (an unsigned request is refused).

The checks run in this order and the first failure names the refusal:

    missing_signature   a signature header is absent or empty
    unknown_gateway     no gateway of that id is registered
    bad_signature       the HMAC does not match the body under the gateway's key
    stale_timestamp     the signed timestamp is not Unix seconds within the allowed skew
    replayed            this gateway's signature was already received (the packet journal; a heartbeat's
                        own table for heartbeats)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import packets
from cloud_api.services.gateways import GatewayRecord, find_gateway
from shared.contract import INGEST_PATH, verify

__all__ = ["Refusal", "Refused", "SignedBody", "check_signature"]

_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refusal(StrEnum):
    """Why a request was refused with nothing stored."""

    MISSING_SIGNATURE = "missing_signature"
    UNKNOWN_GATEWAY = "unknown_gateway"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED = "replayed"
    TOO_LARGE = "too_large"
    INVALID_BATCH = "invalid_batch"
    GATEWAY_MISMATCH = "gateway_mismatch"


class Refused(DomainError):
    """A gateway's request refused as a whole by the checks above; nothing of it is stored.

    Its ``detail`` is English and technical: a gateway's operator reads it in the gateway's log.
    Counted in ``mektep_ingest_refused_total{reason}`` when answered.
    """

    def __init__(self, code: Refusal, detail: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(code.value, detail, errors=errors or ())
        self.refusal = code


@dataclass(frozen=True, slots=True)
class SignedBody:
    """A body whose signature checked out, with what the packet journal keeps of it."""

    gateway: GatewayRecord
    body: bytes
    timestamp: str
    signature: str
    method: str = "POST"
    path: str = INGEST_PATH


def check_signature(
    conn: Connection,
    *,
    gateway_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    max_skew_s: int,
    method: str = "POST",
    path: str = INGEST_PATH,
    journalled: bool = True,
) -> SignedBody:
    """The verified body and its gateway, or ``Refused`` naming the first check that failed.

    ``journalled=False`` leaves the replay check to the caller: a heartbeat is never in the packet
    journal, its own table's key refuses a signature received twice (the lookup here would only cost).
    """
    if not gateway_id or not timestamp or not signature:
        raise Refused(Refusal.MISSING_SIGNATURE, "X-Mektep-Gateway, X-Mektep-Timestamp and X-Mektep-Signature needed")
    gateway = find_gateway(conn, gateway_id)
    if gateway is None:
        raise Refused(Refusal.UNKNOWN_GATEWAY, f"gateway {gateway_id!r} is not registered")
    if not verify(gateway.key, method, path, timestamp, body, signature):
        raise Refused(Refusal.BAD_SIGNATURE, "the signature does not match the body under this gateway's key")
    # Checked after the HMAC so that an attacker cannot probe the clock without the key.
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now - int(timestamp)) > max_skew_s:
        raise Refused(Refusal.STALE_TIMESTAMP, f"the timestamp is more than {max_skew_s} s from the cloud's clock")
    if not journalled:
        return SignedBody(gateway, body, timestamp, signature, method, path)
    seen = conn.execute(
        select(packets.c.id).where(
            packets.c.school_id == gateway.school_id,
            packets.c.gateway_id == gateway_id,
            packets.c.signature == signature,
        )
    ).first()
    if seen is not None:
        raise Refused(Refusal.REPLAYED, f"this signed packet was already received (batch {seen.id})")
    return SignedBody(gateway, body, timestamp, signature, method, path)
