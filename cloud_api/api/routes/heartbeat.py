"""``POST /v1/gateways/{gateway}/heartbeat``: a gateway's signed health, every minute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayRequest, UnverifiedRequest, verify_gateway_request
from cloud_api.api.errors import ingest_error_responses
from cloud_api.core.metrics import HEARTBEATS
from cloud_api.services.gateway_health import parse_heartbeat, store_heartbeat
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
    unverified: GatewayRequest,
    engine: EngineDep,
    gateway: Annotated[str, Path(max_length=64, description="The signing gateway's id.")],
) -> Response:
    """Store one verified heartbeat; answer with the cloud's clock."""
    answer = await run_in_threadpool(_store, engine, unverified, gateway)
    HEARTBEATS.inc()
    return Response(answer.model_dump_json(), media_type="application/json")


def _store(engine: Engine, unverified: UnverifiedRequest, gateway_id: str) -> HeartbeatAnswer:
    # Every minute from every gateway: one trip to a worker thread and one transaction for the
    # signature's check and the two writes. The packet journal is not asked: a heartbeat is never in
    # it, and its own history's key refuses a replay (store_heartbeat).
    with engine.begin() as conn:
        signed = verify_gateway_request(conn, unverified, journalled=False)
        beat = parse_heartbeat(signed.body)
        return store_heartbeat(conn, signed, gateway_id, beat, datetime.now(UTC))
