"""The API of outside systems (Order No. 456 §33-1.2, §16): a token, then a school's day, meals and roster.

    POST /v1/oauth/token                                     an access token (OAuth 2.0 client credentials)
    GET  /v1/integrations/schools                            the schools the system may read
    GET  /v1/integrations/schools/{school}/attendance?date=  entries and exits of a day   attendance:read
    GET  /v1/integrations/schools/{school}/meals?date=       meals of a day               meals:read
    GET  /v1/integrations/schools/{school}/roster            the active students          roster:read

A system's own webhook subscriptions are under ``/v1/integrations/webhooks``
(:mod:`cloud_api.api.routes.integration_webhooks`), behind the same gate (:data:`ApiClient`).

Each read route takes ``?class_name=`` for one class. Every call is checked in one place
(:func:`_admit`): the bearer token (401 ``api_token_required``), the limit a minute shared by every
API process (429 ``rate_limited`` with ``Retry-After``), the route's scope (403
``scope_not_granted``) and the school's being within the system's reach (403 ``school_not_served``;
a school that does not exist reads the same). Every call of a known system, answered or refused,
is journalled with the rows it returned (:mod:`cloud_api.integrations.calls`); a refused token or
call is a security event. Who appears in the feeds is :mod:`cloud_api.integrations.feeds`'s to say.

The clock is ``app.state.integration_clock`` when a test sets one, else the wall clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, SchoolPath, client_ip, read_limited
from cloud_api.api.errors import refusals, status_of
from cloud_api.api.schemas.integrations import (
    AttendanceDay,
    MealsDay,
    MealServed,
    OAuthError,
    Pass,
    RosterPublic,
    RosterStudent,
    SchoolServed,
    SchoolsServed,
    StudentAttendance,
    TokenResponse,
)
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import INTEGRATION_CALLS, INTEGRATION_RATE_LIMITED
from cloud_api.core.security_events import Kind, Outcome, record_security_event
from cloud_api.db.schema import schools
from cloud_api.integrations.calls import count_call, record_call, refused_lately
from cloud_api.integrations.clients import IntegrationClient, get_client, may_serve_school, schools_served
from cloud_api.integrations.feeds import attendance_day, meals_day, roster
from cloud_api.integrations.oauth import TokenAnswer, TokenForm, answer_token_request
from cloud_api.integrations.tokens import token_grant

__all__ = ["SCOPE_WORDS", "TOKEN_PATH", "ApiCall", "ApiClient", "refused_call", "router"]

router = APIRouter(tags=["integrations"])
TOKEN_PATH = "/v1/oauth/token"
MAX_TOKEN_REQUEST_BYTES = 4096
# What each scope lets a system read, as the OpenAPI document and /docs show it.
SCOPE_WORDS = {
    "attendance:read": "A school's entries and exits of a day, for students whose guardian consents",
    "meals:read": "A school's meals of a day (period, category, dishes), for students whose guardian consents",
    "roster:read": "A school's active students: name, class, grade, language (never an IIN)",
}
_OAUTH = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPE_WORDS)),
    scheme_name="apiClient",
    description="An outside system registered in the office: its client id and secret give a token at "
    f"`POST {TOKEN_PATH}` (client credentials grant); each route names the scope it needs.",
    auto_error=False,
)


def _clock(request: Request) -> dt.datetime:
    clock: Callable[[], dt.datetime] | None = getattr(request.app.state, "integration_clock", None)
    return clock() if clock is not None else dt.datetime.now(dt.UTC)


# -- the token endpoint --------------------------------------------------------------------------


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


class _TooLarge(DomainError):
    pass


def _issue(engine: Engine, form: TokenForm, now: dt.datetime) -> TokenAnswer:
    with engine.begin() as conn:
        answer = answer_token_request(conn, form, now)
        # Journalled for a system that exists; an unknown id is only a security event (no rows to flood).
        # Anybody may name a system's id with a wrong secret: of those refusals the journal keeps one a minute.
        known = answer.claimed is not None and get_client(conn, answer.claimed) is not None
        if known and (answer.status == 200 or not refused_lately(conn, answer.claimed, TOKEN_PATH, now)):
            record_call(
                conn,
                answer.claimed,
                now,
                method="POST",
                path=TOKEN_PATH,
                school_id=None,
                status=answer.status,
                code=None if answer.status == 200 else str(answer.body.get("error")),
            )
    return answer


_TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {
                        "type": "string",
                        "description": "Space-separated scopes; none: every scope the system was given.",
                        "example": "attendance:read",
                    },
                    "client_id": {"type": "string", "description": "With client_secret_post (else HTTP Basic)."},
                    "client_secret": {"type": "string", "description": "With client_secret_post (else HTTP Basic)."},
                },
            }
        }
    },
}


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    summary="An access token for an outside system (OAuth 2.0 client credentials)",
    responses={
        400: {
            "model": OAuthError,
            "description": "RFC 6749 §5.2: invalid_request, unsupported_grant_type, "
            "invalid_scope, unauthorized_client (a system without scopes)",
        },
        401: {"model": OAuthError, "description": "invalid_client: unknown, revoked, or a wrong secret"},
    },
    openapi_extra={"requestBody": _TOKEN_FORM},
)
async def token(request: Request, engine: EngineDep) -> JSONResponse:
    """An opaque bearer token for an hour, with the scopes asked (a subset of the system's; none: all of them).

    The system authenticates with HTTP Basic (``client_secret_basic``: its client id and secret) or
    with ``client_id`` and ``client_secret`` in the form (``client_secret_post``). During a rotation's
    overlap (24 h) the previous secret works too; a revoked system gets ``invalid_client``.
    """
    now = _clock(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "Send the form as application/x-www-form-urlencoded.")
    try:
        body = await read_limited(request, MAX_TOKEN_REQUEST_BYTES, lambda: _TooLarge("invalid_request"))
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (_TooLarge, UnicodeDecodeError, ValueError):
        return _oauth_error("invalid_request", "The form cannot be read (too large, not UTF-8, or too many fields).")
    form = TokenForm(fields, request.headers, f"https://{request.url.netloc}{TOKEN_PATH}")
    # The URI only tells Authlib that the transport is TLS, which the deployment's proxy (or uvicorn's
    # own TLS) ensures: behind a proxy Starlette sees plain http.
    answer = await run_in_threadpool(_issue, engine, form, now)
    INTEGRATION_CALLS.labels("token", str(answer.status)).inc()
    if answer.status != 200:
        record_security_event(
            Kind.API_CLIENT_REFUSED,
            Outcome.FAILURE if answer.body.get("error") == "invalid_client" else Outcome.REFUSED,
            target=f"integration_client:{answer.claimed}" if answer.claimed else None,
            details={"path": TOKEN_PATH, "error": str(answer.body.get("error"))},
            source_ip=client_ip(request),
        )
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


# -- a call of the API ---------------------------------------------------------------------------


@dataclass
class ApiCall:
    """An admitted call: the system, the school asked (if any), the scopes of its token, the time; and
    the rows the route returns, which the journal keeps."""

    client: IntegrationClient
    school_id: str | None
    scopes: frozenset[str]
    now: dt.datetime
    rows: int = 0


def _refuse(
    code: str, request: Request, client: IntegrationClient | None, school_id: str | None, **values: Any
) -> DomainError:
    if code != "rate_limited":
        record_security_event(
            Kind.API_CLIENT_REFUSED,
            Outcome.REFUSED,
            actor=f"integration_client:{client.client_id}" if client else None,
            school=school_id,
            details={"reason": code, "method": request.method, "path": request.url.path},
            source_ip=client_ip(request),
        )
    return DomainError(code, f"integration call refused: {code}", **values)


def refused_call(code: str, request: Request, call: ApiCall, **values: Any) -> DomainError:
    """A refusal of an admitted call found by the route itself (a school or scope named in its body):
    a security event, as :func:`_admit`'s are; raise it inside the route so the call is journalled."""
    return _refuse(code, request, call.client, call.school_id, **values)


def _admit(
    engine: Engine, request: Request, authorization: str | None, needed: list[str], school_id: str | None
) -> ApiCall:
    now = _clock(request)
    scheme, token = get_authorization_scheme_param(authorization)
    with engine.begin() as conn:
        grant = token_grant(conn, token, now) if scheme.lower() == "bearer" and token else None
        if grant is None:
            raise _refuse("api_token_required", request, None, school_id)
        client = grant.client

        def refused(code: str, status: int, *, journal: bool = True, **values: Any) -> DomainError:
            if journal:
                record_call(
                    conn,
                    client.client_id,
                    now,
                    method=request.method,
                    path=request.url.path,
                    school_id=school_id,
                    status=status,
                    code=code,
                )
            return _refuse(code, request, client, school_id, **values)

        counted = count_call(conn, client.client_id, client.rate_per_minute, now)
        if counted.retry_after_s is not None:
            INTEGRATION_RATE_LIMITED.inc()
            first = counted.first_over(client.rate_per_minute)
            error = refused("rate_limited", 429, journal=first, retry_after_s=counted.retry_after_s)
        elif not set(needed) <= grant.scopes:
            error = refused("scope_not_granted", 403)
        elif school_id is not None and not may_serve_school(conn, client, school_id):
            error = refused("school_not_served", 403)
        else:
            return ApiCall(client, school_id, grant.scopes, now)
    raise error  # after the journal's transaction committed


def _finish(engine: Engine, request: Request, call: ApiCall, status: int, code: str | None) -> None:
    with engine.begin() as conn:
        record_call(
            conn,
            call.client.client_id,
            call.now,
            method=request.method,
            path=request.url.path,
            school_id=call.school_id,
            status=status,
            rows=call.rows,
            code=code,
        )


def _journalled(engine: Engine, request: Request, call: ApiCall) -> Iterator[ApiCall]:
    # A read, or a change (the webhook subscriptions of :mod:`cloud_api.api.routes.integration_webhooks`).
    route = "read" if request.method == "GET" else "write"
    try:
        yield call
    except DomainError as error:
        _finish(engine, request, call, status_of(error.code), error.code)
        INTEGRATION_CALLS.labels(route, str(status_of(error.code))).inc()
        raise
    except RequestValidationError:
        # Parameters or a body the route refused after the token was admitted: journalled as answered.
        _finish(engine, request, call, 422, "invalid_request")
        INTEGRATION_CALLS.labels(route, "422").inc()
        raise
    # The route's own success status (201 for a subscription made, 204 for one removed), else 200.
    status = getattr(request.scope.get("route"), "status_code", None) or 200
    _finish(engine, request, call, status, None)
    INTEGRATION_CALLS.labels(route, str(status)).inc()


def _client_call(
    request: Request,
    engine: EngineDep,
    scopes: SecurityScopes,
    authorization: Annotated[str | None, Depends(_OAUTH)],
) -> Iterator[ApiCall]:
    call = _admit(engine, request, authorization, scopes.scopes, None)
    yield from _journalled(engine, request, call)


def _school_call(
    request: Request,
    engine: EngineDep,
    scopes: SecurityScopes,
    school_id: SchoolPath,
    authorization: Annotated[str | None, Depends(_OAUTH)],
) -> Iterator[ApiCall]:
    call = _admit(engine, request, authorization, scopes.scopes, school_id)
    yield from _journalled(engine, request, call)


# A route's signature says what it needs: a valid token, and for a school's data the scope and the reach.
ApiClient = Annotated[ApiCall, Security(_client_call)]
AttendanceReader = Annotated[ApiCall, Security(_school_call, scopes=["attendance:read"])]
MealsReader = Annotated[ApiCall, Security(_school_call, scopes=["meals:read"])]
RosterReader = Annotated[ApiCall, Security(_school_call, scopes=["roster:read"])]

DayQuery = Annotated[dt.date, Query(alias="date", description="The school's local day, YYYY-MM-DD.")]
ClassQuery = Annotated[
    str | None, Query(min_length=1, max_length=8, description="One class only, as the roster names it (3Б).")
]
_REFUSALS = refusals("api_token_required", "scope_not_granted", "school_not_served", "rate_limited")


@router.get("/v1/integrations/schools", response_model=SchoolsServed, responses=_REFUSALS)
def schools_of_client(call: ApiClient, engine: EngineDep) -> SchoolsServed:
    """The schools this system may read now, and the scopes of its token (any valid token)."""
    with engine.connect() as conn:
        ids = schools_served(conn, call.client)
        rows = conn.execute(
            select(schools.c.school_id, schools.c.name, schools.c.region_id)
            .where(schools.c.school_id.in_(ids))
            .order_by(schools.c.school_id)
        ).all()
    call.rows = len(rows)
    return SchoolsServed(
        scopes=sorted(call.scopes),
        schools=[SchoolServed(school_id=r.school_id, name=r.name, region_id=r.region_id) for r in rows],
    )


@router.get("/v1/integrations/schools/{school_id}/attendance", response_model=AttendanceDay, responses=_REFUSALS)
def school_attendance(
    call: AttendanceReader, engine: EngineDep, day: DayQuery, class_name: ClassQuery = None
) -> AttendanceDay:
    """Each consenting student's entries and exits of the day: first entry, last exit, every pass.

    Only students whose guardian's consent to attendance tracking is in force now are listed (a
    consenting student who did not come has no passes); staff are not.
    """
    assert call.school_id is not None
    with engine.connect() as conn:
        found = attendance_day(conn, call.school_id, day, class_name)
    call.rows = len(found)
    return AttendanceDay(
        school_id=call.school_id,
        date=day,
        class_name=class_name,
        students=[
            StudentAttendance(
                student_id=s.student_id,
                class_name=s.class_name,
                first_entry=s.first_entry,
                last_exit=s.last_exit,
                passes=[Pass(kind=kind, at=at) for kind, at in s.passes],  # type: ignore[arg-type]
            )
            for s in found
        ],
    )


@router.get("/v1/integrations/schools/{school_id}/meals", response_model=MealsDay, responses=_REFUSALS)
def school_meals(call: MealsReader, engine: EngineDep, day: DayQuery, class_name: ClassQuery = None) -> MealsDay:
    """Every meal served on the day to a consenting student: when, the period, free/discounted/paid, the dishes."""
    assert call.school_id is not None
    with engine.connect() as conn:
        found = meals_day(conn, call.school_id, day, class_name)
    call.rows = len(found)
    return MealsDay(
        school_id=call.school_id,
        date=day,
        class_name=class_name,
        meals=[
            MealServed(
                student_id=m.student_id,
                class_name=m.class_name,
                at=m.at,
                period=m.period,
                category=m.category,
                dishes=list(m.dishes),
            )
            for m in found
        ],
    )


@router.get("/v1/integrations/schools/{school_id}/roster", response_model=RosterPublic, responses=_REFUSALS)
def school_roster(call: RosterReader, engine: EngineDep, class_name: ClassQuery = None) -> RosterPublic:
    """The school's active students (or a class's): id, names, class, grade, language; never an IIN or a contact."""
    assert call.school_id is not None
    with engine.connect() as conn:
        found = roster(conn, call.school_id, class_name)
    call.rows = len(found)
    return RosterPublic(
        school_id=call.school_id,
        class_name=class_name,
        students=[RosterStudent(student_id=r.pop("id"), **r) for r in found],
    )
