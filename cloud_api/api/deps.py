"""Typed dependencies: a route's signature says what it needs.

    EngineDep     the app's SQLAlchemy engine (made by the lifespan)
    SettingsDep   the app's ``CloudSettings``
    GatewayAuth   the raw body, size-limited, whose HMAC signature checked out (a ``SignedBody``)
    AdminAuth     a valid ``Authorization: Bearer <admin token>``
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.api.errors import http_refusal
from cloud_api.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from cloud_api.services.signatures import Refusal, Refused, SignedBody, check_signature
from cloud_api.settings import CloudSettings

__all__ = ["AdminAuth", "EngineDep", "GatewayAuth", "SettingsDep", "read_limited"]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _settings(request: Request) -> CloudSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[CloudSettings, Depends(_settings)]


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or ``Refused(too_large)`` as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading a byte; a chunked (or
    lying) body is counted as it arrives, so at most ``limit`` bytes plus one chunk are held.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Refused(Refusal.TOO_LARGE, f"a batch may be at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(Refusal.TOO_LARGE, f"a batch may be at most {limit} bytes")
    return bytes(body)


async def _gateway_auth(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    # Optional here so that a missing header is our 401 ``missing_signature``, not FastAPI's 422.
    gateway_id: Annotated[str | None, Header(alias=HEADER_GATEWAY, description="The signing gateway's id.")] = None,
    timestamp: Annotated[
        str | None, Header(alias=HEADER_TIMESTAMP, description="Unix seconds, signed; within the allowed skew.")
    ] = None,
    signature: Annotated[
        str | None,
        Header(alias=HEADER_SIGNATURE, description="Hex HMAC-SHA256 of `METHOD\\nPATH\\nTIMESTAMP\\nSHA256HEX(body)`"),
    ] = None,
) -> SignedBody:
    try:
        body = await read_limited(request, settings.max_batch_bytes)
        # The lookups are blocking database calls: off the event loop.
        return await run_in_threadpool(
            _check, engine, gateway_id, timestamp, signature, body, request.method, _signed_path(request), settings
        )
    except Refused as refused:
        raise http_refusal(refused) from None


def _signed_path(request: Request) -> str:
    # The gateway signs the API's own path (``INGEST_PATH``): behind a proxy that mounts the app
    # under a prefix (``root_path``), the prefix is not part of what was signed.
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _check(
    engine: Engine,
    gateway_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    method: str,
    path: str,
    settings: CloudSettings,
) -> SignedBody:
    with engine.connect() as conn:
        return check_signature(
            conn, gateway_id=gateway_id, timestamp=timestamp, signature=signature, body=body,
            now=time.time(), max_skew_s=settings.signature_max_skew_s, method=method, path=path,
        )  # fmt: skip


GatewayAuth = Annotated[SignedBody, Depends(_gateway_auth)]


def _admin(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = settings.admin_token.get_secret_value()
    scheme, _, given = (authorization or "").partition(" ")
    # An empty configured token means "no admin API" (development without a token), not "anyone".
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


AdminAuth = Annotated[None, Depends(_admin)]
