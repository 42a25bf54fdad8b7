"""``POST /v1/ingest/batches``: signature first, then parsing, then one transaction."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from cloud_api.api.deps import EngineDep, SettingsDep
from cloud_api.contract import (
    HEADER_GATEWAY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    INGEST_PATH,
    Batch,
    BatchResult,
    verify,
)
from cloud_api.services.gateways import find_gateway
from cloud_api.services.ingest import store_batch

__all__ = ["REFUSED", "router"]

router = APIRouter(tags=["ingest"])
REFUSED = Counter("mektep_ingest_refused", "Batches refused before storing anything", ["reason"])
EVENTS = Counter("mektep_ingest_events", "Events answered", ["status"])


def _refuse(status: int, reason: str, message: str) -> HTTPException:
    REFUSED.labels(reason).inc()
    return HTTPException(status, {"code": reason, "message": message})


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _refuse(413, "too_large", f"a batch may be at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _refuse(413, "too_large", f"a batch may be at most {limit} bytes")
    return bytes(body)


ERROR_EXAMPLE = {"detail": {"code": "bad_signature", "message": "the signature does not match"}}


@router.post(
    INGEST_PATH,
    response_model=BatchResult,
    summary="Deliver a signed batch of gateway events",
    description=(
        "The body is a `Batch`, signed with the gateway's key: `X-Mektep-Signature` = hex "
        "HMAC-SHA256 over `POST\\n/v1/ingest/batches\\n<X-Mektep-Timestamp>\\n<hex SHA-256 of body>`. "
        "The signature is checked before the body is parsed; a refused batch stores nothing. "
        "Idempotent on event id: each event is answered `accepted`, `duplicate` or `rejected`."
    ),
    openapi_extra={
        "parameters": [
            {"name": HEADER_GATEWAY, "in": "header", "required": True, "schema": {"type": "string"},
             "example": "gw-demo-1"},
            {"name": HEADER_TIMESTAMP, "in": "header", "required": True, "schema": {"type": "string"},
             "example": "1763605273"},
            {"name": HEADER_SIGNATURE, "in": "header", "required": True, "schema": {"type": "string"},
             "example": "5d1f0c…(64 hex)"},
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Batch"},
                    "example": Batch.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                }
            },
        },
    },
    responses={
        401: {"description": "Missing, unknown, stale, wrong or replayed signature",
              "content": {"application/json": {"example": ERROR_EXAMPLE}}},
        413: {"description": "The batch is larger than the limit",
              "content": {"application/json": {"example": {"detail": {"code": "too_large", "message": "…"}}}}},
        422: {"description": "The batch does not match the contract; names the field",
              "content": {"application/json": {"example": {"detail": {
                  "code": "invalid_batch", "message": "events.3.occurred_at: Input should have timezone info",
                  "errors": [{"field": "events.3.occurred_at", "message": "Input should have timezone info"}]}}}}},
    },
)  # fmt: skip
async def ingest_batch(request: Request, engine: EngineDep, settings: SettingsDep) -> BatchResult:
    """Verify, parse and store one batch."""
    body = await _read_limited(request, settings.max_batch_bytes)
    gateway_id = request.headers.get(HEADER_GATEWAY)
    timestamp = request.headers.get(HEADER_TIMESTAMP)
    signature = request.headers.get(HEADER_SIGNATURE)
    if not gateway_id or not timestamp or not signature:
        raise _refuse(401, "missing_signature", "signature headers are required")
    with engine.connect() as conn:
        gateway = find_gateway(conn, gateway_id)
    if gateway is None:
        raise _refuse(401, "unknown_gateway", f"gateway {gateway_id!r} is not registered")
    if not verify(gateway.key, "POST", INGEST_PATH, timestamp, body, signature):
        raise _refuse(401, "bad_signature", "the signature does not match")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > settings.signature_max_skew_s:
        raise _refuse(401, "stale_timestamp", f"timestamp more than {settings.signature_max_skew_s} s off")
    try:
        batch = Batch.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        REFUSED.labels("invalid_batch").inc()
        first = errors[0]
        raise HTTPException(
            422, {"code": "invalid_batch", "message": f"{first['field']}: {first['message']}", "errors": errors[:20]}
        ) from exc
    if batch.gateway_id != gateway.gateway_id:
        raise _refuse(401, "gateway_mismatch", "the batch names another gateway than its signer")
    packet: dict[str, Any] = {
        "gateway_id": gateway.gateway_id,
        "method": "POST",
        "path": INGEST_PATH,
        "timestamp": timestamp,
        "signature": signature,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body": body,
    }
    try:
        with engine.begin() as conn:
            answer = store_batch(conn, gateway, batch, packet, datetime.now(UTC))
    except IntegrityError as exc:
        # The same signed packet, byte for byte, was taken before: a replay.
        raise _refuse(401, "replayed", "this signed batch was already received") from exc
    for result in answer.results:
        EVENTS.labels(result.status.value).inc()
    return answer
