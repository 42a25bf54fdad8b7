"""Passkeys in the pages, for both doors: signing in with one (alone, or after the password) and adding one.

    POST /{door}/sign-in/passkey/options, POST /{door}/sign-in/passkey    sign in (``passkey.js`` calls them)
    POST /{door}/account/passkeys/options, POST /{door}/account/passkeys  add a passkey to one's account
    POST /{door}/account/passkeys/remove                                  remove one (a form)

Signing in alone starts a half-done session of its own (stage ``passkey``, no account yet) that holds
the challenge; after the password, the half-done sign-in holds it. The passkey chosen names the account.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete

from cloud_api.api.deps import client_ip, require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import passkeys
from cloud_api.services.accounts import is_staff, signed_in_by_passkey
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.passkeys import (
    RelyingParty,
    authentication_options,
    register_passkey,
    registration_options,
    verify_passkey,
)
from cloud_api.services.sessions import end_session, live_session, open_session, token_hash
from cloud_api.web.account import MeDep
from cloud_api.web.sign_in import PENDING_COOKIE, set_session_cookie

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
# The account a passwordless sign-in's half-done session belongs to until a passkey names one.
_NOBODY = uuid.UUID(int=0)


class Ceremony(BaseModel):
    """What ``passkey.js`` posts back: the browser's credential (its JSON form) and, when adding, a name."""

    credential: dict[str, Any]
    name: str = Field("", max_length=100)


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _rp(request: Request) -> RelyingParty:
    public: str | None = request.app.state.settings.public_url
    origin = public or f"{request.url.scheme}://{request.url.netloc}"
    host = origin.split("://", 1)[1].split(":", 1)[0]
    return RelyingParty(host, origin)


def _json(options: str) -> Response:
    return Response(options, media_type="application/json")


def sign_in_options(request: Request) -> Response:
    """Options for signing in: the half-done sign-in's account's passkeys, or any of this site's."""
    now = datetime.now(UTC)
    token = request.cookies.get(PENDING_COOKIE, "")
    with _engine(request).begin() as conn:
        pending = live_session(conn, token, now, stages=("second_factor", "passkey")) if token else None
        fresh = None
        if pending is None:
            fresh = open_session(conn, _NOBODY, now, kind="staff", stage="passkey")
            token = fresh.token
        account_id = None if pending is None or pending.account_id == _NOBODY else pending.account_id
        options = authentication_options(conn, _rp(request), token_hash(token), account_id)
    response = _json(options)
    if fresh is not None:
        response.set_cookie(
            PENDING_COOKIE, fresh.token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
        )
    return response


def sign_in_finish(request: Request, body: Ceremony) -> Response:
    """The passkey's signature: a full session, and where to go."""
    now = datetime.now(UTC)
    token = request.cookies.get(PENDING_COOKIE, "")
    agent = request.headers.get("user-agent")
    with _engine(request).begin() as conn:
        pending = live_session(conn, token, now, stages=("second_factor", "passkey")) if token else None
        if pending is None:
            raise DomainError("sign_in_expired")
        alone = pending.account_id == _NOBODY
        owner = verify_passkey(
            conn,
            _rp(request),
            pending.token_hash,
            body.credential,
            now,
            account_id=None if alone else pending.account_id,
        )
        end_session(conn, token, now)
        method = "passkey" if alone else "password+passkey"
        result = signed_in_by_passkey(conn, owner, method, ip=client_ip(request), user_agent=agent, now=now)
        staff = is_staff(conn, owner)
    if result.token is None or result.expires_at is None:
        raise DomainError("passkey_failed")
    response = JSONResponse({"next": "/office/" if staff else "/app/"})
    set_session_cookie(request, response, result.token, result.expires_at)
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


def register_options(request: Request, me: MeDep) -> Response:
    """Options for adding a passkey to the signed-in account."""
    assert me.principal.account is not None
    with _engine(request).begin() as conn:
        options = registration_options(
            conn, _rp(request), me.account_id, me.principal.account.login, token_hash(me.token)
        )
    return _json(options)


def register_finish(request: Request, me: MeDep, body: Ceremony) -> Response:
    """Keep the new passkey; back to the account page."""
    assert me.principal.account is not None
    with _engine(request).begin() as conn:
        register_passkey(
            conn,
            _rp(request),
            me.account_id,
            token_hash(me.token),
            body.credential,
            body.name,
            datetime.now(UTC),
            actor=me.principal.actor,
            school_id=me.principal.account.school_id,
        )
    return JSONResponse({"next": f"/{me.door}/account?saved=passkey_added"})


def remove_form(request: Request, me: MeDep, credential: Annotated[str, Form(max_length=1400)]) -> Response:
    """Remove one of one's passkeys."""
    assert me.principal.account is not None
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        gone = conn.execute(
            delete(passkeys).where(passkeys.c.account_id == me.account_id, passkeys.c.credential_id == credential)
        )
        if gone.rowcount:
            entry = AuditEntry("update", "account", str(me.account_id), None, {"second_factor": "passkey removed"})
            write_audit(conn, me.principal.account.school_id or "*", me.principal.actor, now, [entry])
    return RedirectResponse(f"/{me.door}/account?saved=passkey_removed", status_code=303)


for _door in ("app", "office"):
    _checked = [Depends(require_same_origin)]
    router.add_api_route(f"/{_door}/sign-in/passkey/options", sign_in_options, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door}/sign-in/passkey", sign_in_finish, methods=["POST"], dependencies=_checked)
    router.add_api_route(
        f"/{_door}/account/passkeys/options", register_options, methods=["POST"], dependencies=_checked
    )
    router.add_api_route(f"/{_door}/account/passkeys", register_finish, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door}/account/passkeys/remove", remove_form, methods=["POST"], dependencies=_checked)
