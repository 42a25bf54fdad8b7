"""Typed dependencies: a route's signature says what it needs.

    EngineDep       the app's SQLAlchemy engine (made by the lifespan)
    SettingsDep     the app's ``CloudSettings``
    HashSlotsDep    the process's turns at hashing a password (a sign-in waits for one on the event loop)
    LanguageDep     the language the caller reads (``Accept-Language``), for what a route translates
    GatewayAuth     the raw body, size-limited, whose HMAC signature checked out (a ``SignedBody``)
    GatewayRequest  the raw body and its signature headers, not checked yet: for a route that checks
                    them in its own transaction (:func:`verify_gateway_request`), as the heartbeat does
    AdminAuth       a valid ``Authorization: Bearer <admin token>`` (journalled)
    CurrentAccount  a ``Principal``: the signed-in account of the bearer token or the session cookie
                    (a cookie only on a request from our own pages), with its roles in force, or the
                    system for the admin token (only in the Authorization header; journalled)
    EnrollingAccount  a ``CurrentAccount``, or a staff member's half-done sign-in that must enrol a second factor
    SchoolAdmin     a ``CurrentAccount`` that is school_admin of the path's ``{school_id}`` (or the system)
    SchoolStaff     a ``CurrentAccount`` that is school_admin or canteen_staff of ``{school_id}`` (or the system)
    SchoolMember    a ``CurrentAccount`` with any role in ``{school_id}``: staff, a guardian, a student
    CurrentGuardian a ``Guardian``: the signed-in guardian's school and people row (403 for anyone else)

Each refuses with a :class:`~cloud_api.core.errors.DomainError`; :mod:`cloud_api.api.errors` answers it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Annotated, NamedTuple
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import Depends, Header, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import Principal, Role, record_admin_token_use, session_principal
from cloud_api.services.passwords import HashSlots
from cloud_api.services.signatures import Refusal, Refused, SignedBody, check_signature
from cloud_api.settings import CloudSettings
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from shared.languages import Language, language_of

__all__ = [
    "SESSION_COOKIE",
    "AdminAuth",
    "BearerToken",
    "CurrentAccount",
    "CurrentGuardian",
    "EngineDep",
    "EnrollingAccount",
    "GatewayAuth",
    "GatewayRequest",
    "Guardian",
    "HashSlotsDep",
    "LanguageDep",
    "SchoolAdmin",
    "SchoolMember",
    "SchoolPath",
    "SchoolStaff",
    "SettingsDep",
    "UnverifiedRequest",
    "client_ip",
    "guardian_of",
    "read_limited",
    "require_same_origin",
    "require_school_role",
    "verify_gateway_request",
]

SESSION_COOKIE = "mektep_session"


# The dependencies that only read the app's state are ``async``: FastAPI runs a plain ``def``
# dependency on a worker thread, a hop that costs more than the lookup (every request takes two).
async def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def _settings(request: Request) -> CloudSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _language(request: Request) -> Language:
    return language_of(request.headers.get("accept-language"))


async def _hash_slots(request: Request) -> HashSlots:
    return request.app.state.hash_slots  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(_engine)]
HashSlotsDep = Annotated[HashSlots, Depends(_hash_slots)]
SettingsDep = Annotated[CloudSettings, Depends(_settings)]
LanguageDep = Annotated[Language, Depends(_language)]


async def read_limited(request: Request, limit: int, too_large: Callable[[], DomainError]) -> bytes:
    """The request body, or ``too_large()`` raised as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading a byte; a chunked (or
    lying) body is counted as it arrives, so at most ``limit`` bytes plus one chunk are held.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)


class UnverifiedRequest(NamedTuple):
    """A gateway's request as it came: its body and what signs it, checked by :func:`verify_gateway_request`."""

    gateway_id: str | None
    timestamp: str | None
    signature: str | None
    body: bytes
    method: str
    path: str
    max_skew_s: int


async def _gateway_request(
    request: Request,
    settings: SettingsDep,
    # Optional here so that a missing header is our 401 ``missing_signature``, not a 422.
    gateway_id: Annotated[str | None, Header(alias=HEADER_GATEWAY, description="The signing gateway's id.")] = None,
    timestamp: Annotated[
        str | None, Header(alias=HEADER_TIMESTAMP, description="Unix seconds, signed; within the allowed skew.")
    ] = None,
    signature: Annotated[
        str | None,
        Header(alias=HEADER_SIGNATURE, description="Hex HMAC-SHA256 of `METHOD\\nPATH\\nTIMESTAMP\\nSHA256HEX(body)`"),
    ] = None,
) -> UnverifiedRequest:
    limit = settings.max_batch_bytes
    body = await read_limited(
        request, limit, lambda: Refused(Refusal.TOO_LARGE, f"a batch may be at most {limit} bytes")
    )
    return UnverifiedRequest(
        gateway_id, timestamp, signature, body, request.method, _signed_path(request), settings.signature_max_skew_s
    )


GatewayRequest = Annotated[UnverifiedRequest, Depends(_gateway_request)]


async def _gateway_auth(engine: EngineDep, unverified: GatewayRequest) -> SignedBody:
    # The lookups are blocking database calls: off the event loop.
    return await run_in_threadpool(_check, engine, unverified)


def _signed_path(request: Request) -> str:
    # The gateway signs the API's own path (``INGEST_PATH``): behind a proxy that mounts the app
    # under a prefix (``root_path``), the prefix is not part of what was signed. The query string
    # is (the roster pull's ``?since=``), so that nobody can change what a signed request asks.
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    path = path[len(root) :] if root and path.startswith(root) else path
    query: bytes = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def verify_gateway_request(conn: Connection, unverified: UnverifiedRequest, *, journalled: bool = True) -> SignedBody:
    """The request's body whose signature checked out, or ``Refused`` (see :func:`check_signature`)."""
    return check_signature(
        conn,
        gateway_id=unverified.gateway_id,
        timestamp=unverified.timestamp,
        signature=unverified.signature,
        body=unverified.body,
        now=time.time(),
        max_skew_s=unverified.max_skew_s,
        method=unverified.method,
        path=unverified.path,
        journalled=journalled,
    )


def _check(engine: Engine, unverified: UnverifiedRequest) -> SignedBody:
    with engine.connect() as conn:
        return verify_gateway_request(conn, unverified)


GatewayAuth = Annotated[SignedBody, Depends(_gateway_auth)]

# The two ways to show a session, declared as OpenAPI security schemes (``/docs`` gets its
# Authorize button). Neither refuses by itself: a missing token is our coded 401.
_BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A session token from `POST /v1/auth/sign-in`, or the deployment's admin token.",
    auto_error=False,
)
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The pages' session cookie (HttpOnly, SameSite=Lax): the same token as the bearer.",
    auto_error=False,
)


async def _admin(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    token = settings.admin_token.get_secret_value() if settings.admin_token_enabled else ""
    given = credentials.credentials.strip() if credentials is not None else ""
    # An empty configured token means "no admin API" (development without a token), not "anyone".
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise DomainError("admin_token_required")
    await run_in_threadpool(_journal_admin_token, engine, request)


AdminAuth = Annotated[None, Depends(_admin)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_same_origin(request: Request) -> None:
    """``cross_site_form`` (403) unless a state-changing request comes from this site's own pages.

    A browser sends the session cookie with a request that another site makes it send (a form, or
    a ``fetch`` with credentials), and always says where that request came from in ``Origin`` (or at
    least ``Referer``). A request that changes something and names another site, or no site at all,
    is refused; a read (GET) changes nothing and is not checked.
    """
    if request.method in SAFE_METHODS:
        return
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host") or request.url.netloc
    if source == "null" or urlsplit(source).netloc.lower() != host.lower():
        raise DomainError("cross_site_form")


def _bearer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    cookie: Annotated[str | None, Depends(_SESSION)],
) -> str:
    # The pages carry the same session token in an HttpOnly, SameSite=Lax cookie, and their scripts
    # call the JSON API with it; a request authenticated by the cookie must come from our own pages.
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        token = (cookie or "").strip()
        if token:
            require_same_origin(request)
            request.state.by_cookie = True
    if not token:
        raise DomainError("sign_in_required")
    return token


BearerToken = Annotated[str, Depends(_bearer)]


def _session(engine: Engine, token: str) -> Principal | None:
    with engine.begin() as conn:  # a session's last-seen time is written now and then
        return session_principal(conn, token)


async def _current_account(request: Request, engine: EngineDep, settings: SettingsDep, token: BearerToken) -> Principal:
    admin = settings.admin_token.get_secret_value() if settings.admin_token_enabled else ""
    # The admin token is the system: every route that takes an account also takes it, but only from
    # the Authorization header (the command line's way), never as a browser's cookie, and every use
    # is journalled.
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        if getattr(request.state, "by_cookie", False):
            raise DomainError("sign_in_required")
        await run_in_threadpool(_journal_admin_token, engine, request)
        return Principal(None, frozenset())
    principal = await run_in_threadpool(_session, engine, token)
    if principal is None:
        raise DomainError("sign_in_required")
    return principal


def _journal_admin_token(engine: Engine, request: Request) -> None:
    client = request.client.host if request.client else None
    with engine.begin() as conn:
        record_admin_token_use(conn, request.method, request.url.path, client)


CurrentAccount = Annotated[Principal, Depends(_current_account)]


def _enrolling(engine: Engine, token: str) -> Principal | None:
    with engine.begin() as conn:
        return session_principal(conn, token, stages=("full", "enrol"))


async def _enrolling_account(engine: EngineDep, token: BearerToken) -> Principal:
    principal = await run_in_threadpool(_enrolling, engine, token)
    if principal is None or principal.account is None:
        raise DomainError("sign_in_required")
    return principal


# A signed-in account, or a staff member half signed in who must enrol a second factor first.
EnrollingAccount = Annotated[Principal, Depends(_enrolling_account)]


def client_ip(request: Request) -> str | None:
    """The caller's address (behind the load balancer, the one it forwarded, as uvicorn trusts it)."""
    return request.client.host if request.client else None


def require_school_role(principal: Principal, school_id: str, *roles: Role) -> None:
    """``not_allowed`` (403) unless ``principal`` holds one of ``roles`` in ``school_id`` (the system holds all)."""
    if not any(principal.has(role, school_id) for role in roles):
        raise DomainError("not_allowed")


SchoolPath = Annotated[str, Path(min_length=1, max_length=64, examples=["demo-school"])]


def _school_admin(principal: CurrentAccount, school_id: SchoolPath) -> Principal:
    require_school_role(principal, school_id, Role.SCHOOL_ADMIN)
    return principal


def _school_staff(principal: CurrentAccount, school_id: SchoolPath) -> Principal:
    require_school_role(principal, school_id, Role.SCHOOL_ADMIN, Role.CANTEEN_STAFF)
    return principal


def _school_member(principal: CurrentAccount, school_id: SchoolPath) -> Principal:
    require_school_role(principal, school_id, *Role)
    return principal


SchoolAdmin = Annotated[Principal, Depends(_school_admin)]
SchoolStaff = Annotated[Principal, Depends(_school_staff)]
SchoolMember = Annotated[Principal, Depends(_school_member)]


class Guardian(NamedTuple):
    """A signed-in guardian: their school, their own people row, and who they are for the audit."""

    school_id: str
    person_id: UUID
    principal: Principal


def guardian_of(principal: Principal) -> Guardian:
    """The guardian ``principal`` is; ``not_a_guardian`` (403) for anybody else (the system too)."""
    account = principal.account
    if (
        account is None
        or account.person_id is None
        or account.school_id is None
        or not principal.has(Role.GUARDIAN, account.school_id)
    ):
        raise DomainError("not_a_guardian")
    return Guardian(account.school_id, account.person_id, principal)


def _current_guardian(principal: CurrentAccount) -> Guardian:
    return guardian_of(principal)


CurrentGuardian = Annotated[Guardian, Depends(_current_guardian)]
