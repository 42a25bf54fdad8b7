"""``POST /v1/ingest/batches``: signature first, then parsing, then one transaction."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayAuth
from cloud_api.api.errors import ingest_error_responses
from cloud_api.core.metrics import INGEST_EVENTS, INGEST_SECONDS
from cloud_api.services.ingest import parse_batch, store_batch
from cloud_api.services.signatures import SignedBody
from shared.contract import INGEST_PATH, Batch, BatchResult

__all__ = ["ingest", "router"]

router = APIRouter(tags=["ingest"])

_BATCH_EXAMPLE = Batch.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
_REQUEST_BODY = {
    "required": True,
    "description": "A `Batch` of at most 1,000 events, exactly as signed (the signature covers these bytes).",
    "content": {
        "application/json": {
            # Filled in app.openapi with Batch's JSON schema: the route reads the body raw.
            "schema": {"$ref": "#/components/schemas/Batch"},
            "examples": {
                "one_entry": {"summary": "One entry through a turnstile", "value": _BATCH_EXAMPLE},
                "free_lunch": {
                    "summary": "A free lunch at the canteen terminal",
                    "value": {
                        **_BATCH_EXAMPLE,
                        "events": [
                            {
                                **_BATCH_EXAMPLE["events"][0],
                                "id": "0192f3c4-6000-7b8c-9d0e-1f2a3b4c5d6f",
                                "seq": 43,
                                "device_id": "canteen-1",
                                "kind": "meal",
                                "person_id": "p-1024",
                                "credential_kind": "mqtt_card",
                                "reason": "eligible_free",
                                "judged_without_roster": False,
                                "meal": {
                                    "period": "lunch",
                                    "category": "free",
                                    "dishes": ["plov"],
                                    "price_tiyn": 70000,
                                },
                            }
                        ],
                    },
                },
            },
        }
    },
}


@router.post(
    INGEST_PATH,
    response_model=BatchResult,
    summary="Deliver a signed batch of gateway events",
    description=(
        "The body is a `Batch`, signed with the gateway's key: `X-Mektep-Signature` = hex "
        "HMAC-SHA256 over `POST\\n/v1/ingest/batches\\n<X-Mektep-Timestamp>\\n<hex SHA-256 of body>`. "
        "The size is checked first (413), then the signature (401, nothing stored), then the body (422). "
        "Idempotent on event id: each event is answered `accepted`, `duplicate` or `rejected` with a "
        "reason, in batch order; every accepted batch is kept in the packet journal with its signature."
    ),
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"description": "One result per event, in the batch's order"}, **ingest_error_responses()},
)
async def ingest_batch(signed: GatewayAuth, engine: EngineDep, request: Request) -> Response:
    """Parse and store one verified batch; answer per event."""
    started = time.perf_counter()
    # Parsing up to 4 MiB and the inserts block: off the event loop, in one hop.
    answer = await run_in_threadpool(ingest, engine, signed)
    # The batch's notices are committed: this process's push worker need not wait for its interval.
    request.app.state.background.wake("push")
    request.app.state.background.wake("webhooks")  # and its webhooks, committed with them
    for result in answer.results:
        INGEST_EVENTS.labels(result.status.value).inc()
    INGEST_SECONDS.observe(time.perf_counter() - started)
    # Serialised once by pydantic-core; re-validating 1,000 results through response_model is waste.
    return Response(answer.model_dump_json(), media_type="application/json")


def ingest(engine: Engine, signed: SignedBody) -> BatchResult:
    """Parse ``signed.body`` and store it in one transaction (``Refused`` for a bad batch or a replay)."""
    batch = parse_batch(signed.body)
    with engine.begin() as conn:
        return store_batch(conn, signed, batch, datetime.now(UTC))
