"""``POST /v1/gateways/{gateway}/heartbeat``: a gateway's signed health, every minute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayAuth
from cloud_api.api.errors import ingest_error_responses
from cloud_api.core.metrics import HEARTBEATS
from cloud_api.services.gateway_health import parse_heartbeat, store_heartbeat
from cloud_api.services.signatures import SignedBody
from shared.contract import HEARTBEAT_PATH, Heartbeat, HeartbeatAnswer

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

_EXAMPLE = Heartbeat.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]


@router.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatAnswer,
    summary="Deliver a gateway's signed heartbeat",
    description=(
        "The body is a `Heartbeat`, signed like an ingest batch over `POST`, this path, the timestamp and the "
        "body's SHA-256. The signature is checked first (401, nothing stored), then the body (422). A heartbeat "
        "is not an event: it is kept as the gateway's latest health and in a day's history, never in reports. "
        "A signature received twice is a replay (401). The answer carries the cloud's clock."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Heartbeat"},
                    "examples": {"healthy": {"summary": "A healthy gateway", "value": _EXAMPLE}},
                }
            },
        }
    },
    responses={200: {"description": "The cloud's clock when it arrived"}, **ingest_error_responses()},
)
async def heartbeat(
    signed: GatewayAuth,
    engine: EngineDep,
    gateway: Annotated[str, Path(max_length=64, description="The signing gateway's id.")],
) -> Response:
    """Store one verified heartbeat; answer with the cloud's clock."""
    answer = await run_in_threadpool(_store, engine, signed, gateway)
    HEARTBEATS.inc()
    return Response(answer.model_dump_json(), media_type="application/json")


def _store(engine: Engine, signed: SignedBody, gateway_id: str) -> HeartbeatAnswer:
    beat = parse_heartbeat(signed.body)
    with engine.begin() as conn:
        return store_heartbeat(conn, signed, gateway_id, beat, datetime.now(UTC))
