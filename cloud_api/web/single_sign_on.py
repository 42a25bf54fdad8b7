"""Signing in through an outside OpenID Connect provider, at both doors.

GET /{door}/sign-in/with/{name}        to the provider (a half-done sign-in keeps the nonce and the verifier)
GET /{door}/sign-in/with/{name}/back   the provider's answer: signed in, or on to the second factor
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine, update
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import client_ip
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import sessions
from cloud_api.services.accounts import signed_in_from_outside
from cloud_api.services.sessions import end_session, live_session, open_session, token_hash
from cloud_api.services.single_sign_on import finish, link_account, start, state_of
from cloud_api.settings import CloudSettings, SignInProvider
from cloud_api.web.sign_in import DOORS, PENDING_COOKIE, Door, pending_response, signed_in_response

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_NOBODY = uuid.UUID(int=0)


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _provider(request: Request, name: str) -> SignInProvider:
    settings: CloudSettings = request.app.state.settings
    provider = settings.sign_in_providers.get(name)
    if provider is None:
        raise DomainError("not_found")
    return provider


def _redirect_uri(request: Request, door: str, name: str) -> str:
    settings: CloudSettings = request.app.state.settings
    base = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return f"{base}/{door}/sign-in/with/{name}/back"


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def go(request: Request, name: str) -> Response:
    """Begin: a half-done sign-in for this browser, and off to the provider."""
    door = request.url.path.split("/")[1]
    provider = _provider(request, name)
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        pending = open_session(conn, _NOBODY, now, kind="staff", stage="sso")
    try:
        started = await run_in_threadpool(start, provider, _redirect_uri(request, door, name), state_of(pending.token))
    except DomainError:
        return _back(f"/{door}/sign-in?failed=sso_failed")
    with _engine(request).begin() as conn:
        kept = f"{name}|{started.nonce}|{started.verifier}"
        conn.execute(update(sessions).where(sessions.c.token_hash == token_hash(pending.token)).values(challenge=kept))
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE, pending.token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )
    return response


async def back(request: Request, name: str, code: str = "", state: str = "") -> Response:
    """The provider sent the browser back: check everything, find the account, sign in (or ask for the code)."""
    door = request.url.path.split("/")[1]
    provider = _provider(request, name)
    token = request.cookies.get(PENDING_COOKIE, "")
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        pending = live_session(conn, token, now, stages=("sso",)) if token else None
        if pending is not None:
            end_session(conn, token, now)  # one answer per begun sign-in
    kept = (pending.challenge or "").split("|") if pending is not None else []
    if pending is None or len(kept) != 3 or kept[0] != name or not code or state != state_of(token):
        return _back(f"/{door}/sign-in?failed=sso_failed")
    try:
        claims = await run_in_threadpool(finish, provider, _redirect_uri(request, door, name), code, kept[1], kept[2])
        with _engine(request).begin() as conn:
            account_id = link_account(conn, name, provider, claims, now)
            result = signed_in_from_outside(
                conn, account_id, f"oidc:{name}", ip=client_ip(request), user_agent=request.headers.get("user-agent")
            )
    except DomainError as refused:
        failed = refused.code if refused.code in ("sso_no_account", "sso_failed") else "sso_failed"
        return _back(f"/{door}/sign-in?failed={failed}")
    here = Door(door)
    if result.reason == "second_factor_required":
        return pending_response(request, result, here, "code")
    if result.reason == "enrol":
        return pending_response(request, result, here, "enrol")
    if not result.ok:
        return _back(f"/{door}/sign-in?failed=sign_in_failed")
    return signed_in_response(request, result, here)


for _door in DOORS:
    router.add_api_route(f"/{_door}/sign-in/with/{{name}}", go, methods=["GET"])
    router.add_api_route(f"/{_door}/sign-in/with/{{name}}/back", back, methods=["GET"])
