"""``GET /v1/sync/roster?since=V``: a gateway pulls its school's roster after the version it holds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayAuth
from cloud_api.api.errors import error_responses, http_refusal
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import packets
from cloud_api.services.roster_sync import build_delta
from cloud_api.services.signatures import Refusal, Refused, SignedBody
from shared.roster_contract import ROSTER_PATH, RosterDelta

__all__ = ["router"]

router = APIRouter(tags=["sync"])


@router.get(
    ROSTER_PATH,
    response_model=RosterDelta,
    summary="Pull the school's roster after the version the gateway holds",
    description=(
        "Signed like an ingest batch, over `GET`, this path *with its query string*, the timestamp and the "
        "SHA-256 of the empty body. `since=0` (or a version the cloud never issued) answers a full snapshot; "
        "otherwise only what changed after `since`. Only the signing gateway's own school is ever answered. "
        "Every answer is kept in the packet journal with the request's signature."
    ),
    responses={200: {"description": "A `RosterDelta`"}, **error_responses()},
)
async def pull_roster(
    signed: GatewayAuth,
    engine: EngineDep,
    since: Annotated[int, Query(ge=0, description="The roster version the gateway holds (0: none).")] = 0,
) -> Response:
    """The school's roster delta after ``since``."""
    try:
        body = await run_in_threadpool(_delta, engine, signed, since)
    except Refused as refused:
        raise http_refusal(refused) from None
    return Response(body, media_type="application/json")


def _delta(engine: Engine, signed: SignedBody, since: int) -> bytes:
    with engine.begin() as conn:
        delta = build_delta(conn, signed.gateway.school_id, since)
        body = delta.model_dump_json().encode()
        # Kept as sent, so that what a gateway was told stays provable: the answer, under the request's signature.
        kept = conn.execute(
            dialect_insert(conn, packets)
            .values(
                direction="sync",
                gateway_id=signed.gateway.gateway_id,
                received_at=datetime.now(UTC),
                method=signed.method,
                path=signed.path,
                timestamp=signed.timestamp,
                signature=signed.signature,
                body_sha256=hashlib.sha256(body).hexdigest(),
                body=body,
                status_code=200,
                accepted=len(delta.people),
                duplicates=0,
                rejected=0,
            )
            .on_conflict_do_nothing(index_elements=["gateway_id", "signature"])
            .returning(packets.c.id)
        ).first()
        if kept is None:
            raise Refused(Refusal.REPLAYED, "this signed request was already answered")
    return body
