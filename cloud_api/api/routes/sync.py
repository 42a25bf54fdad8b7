"""``GET /v1/sync/roster?since=V``: a gateway pulls its school's roster after the version it holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayAuth, SettingsDep
from cloud_api.api.errors import ingest_error_responses
from cloud_api.services.roster_sync import answer_pull
from cloud_api.services.signatures import SignedBody
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
        "Every answer is kept in the packet journal with the request's signature. `contract=N`: the roster "
        "contract the gateway reads; the fields of a later one (2: kinds of dish and their bans; 3: the Social "
        "Wallet's QR vouchers, QR consent and key) are left out, for a gateway of an earlier release refuses "
        "fields it does not know."
    ),
    responses={200: {"description": "A `RosterDelta`"}, **ingest_error_responses(with_body=False)},
)
async def pull_roster(
    signed: GatewayAuth,
    engine: EngineDep,
    settings: SettingsDep,
    since: Annotated[int, Query(ge=0, le=2**63 - 1, description="The roster version the gateway holds (0: none).")] = 0,
    contract: Annotated[
        int,
        Query(ge=1, le=1000, description="The roster contract the gateway reads (1: the first; 3: this release's)."),
    ] = 1,
) -> Response:
    """The school's roster delta after ``since``."""
    key = settings.social_wallet_qr_public_key
    body = await run_in_threadpool(_pull, engine, signed, since, contract, key)
    return Response(body, media_type="application/json")


def _pull(engine: Engine, signed: SignedBody, since: int, contract: int, key: str | None) -> bytes:
    with engine.begin() as conn:
        return answer_pull(conn, signed, since, contract, key)
