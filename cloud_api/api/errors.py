"""How every refusal becomes an HTTP answer: one table of statuses, one handler, one body.

Every error the API answers has the body :class:`~cloud_api.api.schemas.errors.ErrorResponse`,
``{"detail": {"code", "message", "errors"?}}``: ``code`` is stable, ``message`` is in the first
language of ``Accept-Language`` that we speak (else Kazakh), ``errors`` name the fields at fault.
The status of a :class:`~cloud_api.core.errors.DomainError` is its code's in :data:`STATUS` (a test
checks that every code raised anywhere is in it); a request the framework refuses (a wrong type, an
unreadable body, an unknown path or method) gets the same body. Pages (``/app/``, ``/admin/``)
answer the same statuses with a page instead (the ``page_answer`` of :func:`install_error_handlers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cloud_api.api.schemas.errors import ErrorDetail, ErrorResponse, FieldError
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import DATABASE_UNAVAILABLE, INGEST_REFUSED
from cloud_api.core.security_events import Kind, Outcome, record_security_event
from cloud_api.roster.nedb import FILE_CODES
from cloud_api.services.signatures import Refusal, Refused
from shared.contract import HEADER_GATEWAY
from shared.i18n import catalog_messages, translator
from shared.languages import language_of

__all__ = [
    "PAGE_PREFIXES",
    "STATUS",
    "PageAnswer",
    "error_body",
    "ingest_error_responses",
    "install_error_handlers",
    "refusals",
    "status_of",
]

# Every code a refusal may carry, by status. A code raised but missing here would answer 422.
_BY_STATUS: dict[int, tuple[str, ...]] = {
    400: ("unreadable_body",),
    401: (
        "sign_in_required",
        "admin_token_required",
        "sign_in_failed",
        "second_factor_required",
        "second_factor_failed",
        # A one-time code (activation or reset) that is wrong or no longer works: it authenticates.
        "code_wrong",
        "code_spent",
        "passkey_failed",
        "sign_in_expired",
        "sso_failed",
        "sso_no_account",
        # A gateway's request: refused before parsing, nothing stored. A batch naming another
        # gateway than its signer is an authentication failure too, not a malformed batch: the
        # forwarder halves a batch on 422 until it sets single events aside, whereas on 401 it
        # keeps every event and retries until an operator fixes it.
        *(r.value for r in Refusal if r not in (Refusal.TOO_LARGE, Refusal.INVALID_BATCH)),
    ),
    403: (
        "not_allowed",
        "not_a_guardian",
        "wrong_password",
        "cross_site_form",
        "not_your_own_account",
        "not_a_student",
    ),
    404: (
        "not_found",
        "unknown_account",
        "unknown_person",
        "unknown_card",
        "unknown_dish",
        "no_meal_rules",
        "unknown_rating",
        "unknown_absence",
    ),
    405: ("method_not_allowed",),
    409: (
        "login_taken",
        "card_already_assigned",
        "card_not_active",
        "not_a_card_holder",
        "roster_busy",
        "no_meal_to_rate",
        "too_many_devices",
        "receipt_already_recorded",  # a receipt's number is recorded once in a school
        "mail_not_configured",  # this deployment sends no mail: the school's administrator gives reset codes
        "wallet_record_not_refused",  # only a record the Social Wallet refused is sent again
        "iin_taken",
        "absence_overlaps",  # those days are reported already: withdraw that report first
        "absence_already_begun",  # only a report whose days are all to come is withdrawn
    ),
    413: (Refusal.TOO_LARGE.value, "photo_too_large", "file_too_large"),
    415: ("photo_type", "multipart_required", "unsupported_file_type"),
    422: (
        "invalid_request",
        Refusal.INVALID_BATCH.value,
        "bad_login",
        "date_in_future",
        "roster_of_another_school",
        "password_too_short",
        "bad_code",
        "bad_email",
        "password_too_long",
        "password_contains_login",
        "password_too_common",
        "bad_scope",
        "bad_amount",
        "bad_pin",
        "bad_rating",
        "comment_too_long",
        "bad_absence_reason",
        "absence_ends_before_start",
        "absence_too_far_back",
        "absence_too_far_ahead",
        "absence_too_long",
        "absence_note_too_long",
        "bad_school_hours",
        "bad_month",
        "month_in_future",
        "day_in_past",
        "starts_like_a_formula",
        "unknown_period",
        "after_seq_needs_gateway",
        "bad_upload",
        "file_required",
        "photo_too_many_pixels",
        "photo_unreadable",
        "push_endpoint_not_allowed",
        "wallet_invalid_record",  # a refused record that cannot be rebuilt to the contract
        *FILE_CODES,
    ),
    429: ("login_locked", "too_many_attempts"),
    503: ("credential_key_not_set", "push_not_ready", "database_unavailable", "busy"),
}
# The region's and the ministry's desks (cloud_api.reports.authority): the ministry asking for a
# school's report (it names children) without the region granted; a school not of the region asked.
_BY_STATUS[403] += ("names_not_granted",)
_BY_STATUS[404] += ("unknown_school",)
# The registry of outside systems (cloud_api.integrations.clients).
_BY_STATUS[404] += ("integration_client_unknown",)
_BY_STATUS[422] += (
    "integration_name_required",
    "integration_redirect_invalid",
    "integration_redirect_not_https",
    "integration_claim_unknown",
    "integration_scope_unknown",
    "integration_does_nothing",
    "integration_rate_invalid",
    "integration_school_outside",
    # Where a student's page starts the sign-in at a platform (migration 0041).
    "integration_start_invalid",
    "integration_start_without_sign_in",
)
# The NEDB exchange: a school's NEDB code that is not one (cloud_api.nedb.store).
_BY_STATUS[422] += ("nedb_bad_organisation",)
# Webhook subscriptions (cloud_api.integrations.webhooks.subscriptions).
_BY_STATUS[404] += ("webhook_client_unknown", "webhook_subscription_unknown")
_BY_STATUS[422] += (
    "webhook_school_outside",
    "webhook_kinds_invalid",
    "webhook_scope_missing",
    "webhook_url_malformed",
    "webhook_url_not_https",
    "webhook_url_private_address",
    "webhook_url_unresolved",
)
# Scoped API clients (cloud_api.api.routes.integrations): no valid token; a scope or a school not given;
# over the limit a minute.
_BY_STATUS[401] += ("api_token_required",)
_BY_STATUS[403] += ("scope_not_granted", "school_not_served")
_BY_STATUS[429] += ("rate_limited",)
log = logging.getLogger(__name__)
STATUS: Mapping[str, int] = {code: status for status, codes in _BY_STATUS.items() for code in codes}
PAGE_PREFIXES = ("/app/", "/admin/", "/office/")  # server-rendered pages: they answer a page, never JSON

# A page's own answer to a refusal: (request, status, code, message) → a response.
PageAnswer = Callable[[Request, int, str, str], Response]


def status_of(code: str) -> int:
    """The HTTP status of a refusal's code (422 for a code the table does not know)."""
    return STATUS.get(code, 422)


def _message(code: str, language: str, detail: str | None, values: Mapping[str, object]) -> str:
    _ = translator(language)
    if code in catalog_messages(_.language):
        return _(code, **values) if values else _(code)
    return detail or code


def error_body(
    code: str, language: str, *, detail: str | None = None, errors: Sequence[tuple[str, str]] = (), **values: object
) -> dict[str, Any]:
    """The JSON body of a refusal: its code, its message in ``language``, the fields at fault."""
    _ = translator(language)
    fields = [FieldError(field=field, message=_(message)) for field, message in errors] or None
    detail_out = ErrorDetail(code=code, message=_message(code, language, detail, values), errors=fields)
    return {"detail": detail_out.model_dump(exclude_none=True)}


def _answer(
    request: Request,
    status: int,
    code: str,
    *,
    detail: str | None = None,
    errors: Sequence[tuple[str, str]] = (),
    values: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    language = language_of(request.headers.get("accept-language"))
    page_answer: PageAnswer | None = getattr(request.app.state, "page_answer", None)
    if page_answer is not None and request.url.path.startswith(PAGE_PREFIXES):
        return page_answer(request, status, code, _message(code, language, detail, values or {}))
    body = error_body(code, language, detail=detail, errors=errors, **(values or {}))
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _challenge(status: int, error: DomainError) -> dict[str, str]:
    # 401 says how to authenticate; a refusal that ends in time (a lock, a busy server) says when.
    if status == 401:
        return {"WWW-Authenticate": "HMAC-SHA256" if isinstance(error, Refused) else "Bearer"}
    retry_after = error.values.get("retry_after_s")
    return {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else {}


def _packet_refused(request: Request, error: Refused) -> None:
    # The gateway's header is what the request claims, not who sent it (a bad signature proves nothing):
    # the target, never the actor.
    claimed = (request.headers.get(HEADER_GATEWAY) or "")[:64] or None
    record_security_event(
        Kind.PACKET_REFUSED,
        Outcome.REFUSED,
        target=f"gateway:{claimed}" if claimed else None,
        details={
            "reason": error.code,
            "method": request.method,
            "path": request.url.path,
            "detail": (error.detail or "")[:300],
        },
    )


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    if isinstance(error, Refused):
        INGEST_REFUSED.labels(error.code).inc()
        _packet_refused(request, error)
    status = status_of(error.code)
    return _answer(
        request,
        status,
        error.code,
        detail=error.detail,
        errors=error.errors,
        values=error.values,
        headers=_challenge(status, error),
    )


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location) or "body"


async def _invalid_request(request: Request, error: Exception) -> Response:
    # A field checked against one of our own rules fails with that rule's code as its type
    # (``starts_like_a_formula``): its message is the code's, translated, and when it is the only
    # rule broken it is the answer's code too. Other fields say what the validator said.
    found = error.errors()[:20]
    known = set(catalog_messages("en"))
    codes = {str(e.get("type")) for e in found}
    problems = [
        (_field(e.get("loc", ())), str(e["type"]) if e.get("type") in known else str(e.get("msg", ""))) for e in found
    ]
    code = codes.pop() if len(codes) == 1 and codes <= known and status_of(next(iter(codes))) == 422 else None
    return _answer(request, 422, code or "invalid_request", errors=problems)


async def _http_error(request: Request, error: Exception) -> Response:
    # What the framework refuses before a route runs: no such path, a method the path does not
    # take, or a body it cannot read at all (not UTF-8, not the declared form).
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    if status == 405:
        allowed = _allowed_methods(request)
        return _answer(request, 405, "method_not_allowed", headers={"Allow": ", ".join(allowed)})
    code = {400: "unreadable_body", 404: "not_found"}.get(status)
    if code is None:
        return _answer(request, status, "invalid_request", detail=str(error.detail))
    return _answer(request, status, code, headers=error.headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path: Starlette's own 405 names only the first route's."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHOD_ORDER
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


# How long a client waits before it asks again when the database does not answer: a Citus worker
# restarting, or a failover, takes seconds.
RETRY_AFTER_S = 5


async def _database_unavailable(request: Request, error: Exception) -> Response:
    # The database (or a Citus worker holding the shard asked for) did not answer: the request's
    # transaction is rolled back, nothing half-stored, and the client (a gateway keeps its events)
    # asks again. Only the class is logged: the message may name a host or a user.
    DATABASE_UNAVAILABLE.inc()
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return _answer(request, 503, "database_unavailable", headers={"Retry-After": str(RETRY_AFTER_S)})


def install_error_handlers(app: FastAPI, page_answer: PageAnswer | None = None) -> None:
    """Answer every refusal of ``app`` through the table above; pages through ``page_answer``."""
    app.state.page_answer = page_answer
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# -- OpenAPI ---------------------------------------------------------------------------------------


def refusals(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route that may refuse with ``codes``: each status once, naming its codes.

    The statuses every route shares (400, 401, 403, 404, 422) are added to the document by
    :func:`cloud_api.api.openapi.complete_errors`; a route names its own (409 ``login_taken``…).
    """
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(status_of(code), []).append(code)
    return {
        status: {"model": ErrorResponse, "description": ", ".join(f"`{code}`" for code in sorted(found))}
        for status, found in sorted(by_status.items())
    }


def _example(code: str, message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    detail = ErrorDetail(code=code, message=message, errors=errors)
    return {"summary": code, "value": {"detail": detail.model_dump(exclude_none=True)}}


def ingest_error_responses(*, with_body: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a gateway's signed request, one example per refusal code (and, for a
    request that sends a body, the body's own refusal: too large, not a valid batch)."""
    by_status: dict[int, dict[str, Any]] = {}
    examples = {
        Refusal.MISSING_SIGNATURE: "X-Mektep-Gateway, X-Mektep-Timestamp and X-Mektep-Signature needed",
        Refusal.UNKNOWN_GATEWAY: "gateway 'gw-x' is not registered",
        Refusal.BAD_SIGNATURE: "the signature does not match the body under this gateway's key",
        Refusal.STALE_TIMESTAMP: "the timestamp is more than 300 s from the cloud's clock",
        Refusal.REPLAYED: "this signed packet was already received (batch 17)",
        Refusal.GATEWAY_MISMATCH: "the batch names 'gw-2', the signer is 'gw-demo-1'",
        Refusal.TOO_LARGE: "a batch may be at most 4194304 bytes",
    }
    for code, message in examples.items():
        by_status.setdefault(status_of(code.value), {})[code.value] = _example(code.value, message)
    if with_body:
        field = FieldError(field="events.3.occurred_at", message="Input should have timezone info")
        by_status[422] = {
            "invalid_batch": _example(Refusal.INVALID_BATCH.value, f"{field.field}: {field.message}", [field])
        }
    else:
        del by_status[status_of(Refusal.TOO_LARGE.value)]
    descriptions = {
        401: "Refused before parsing, nothing stored: missing, unknown, wrong, stale or replayed signature, "
        "or a batch naming another gateway than its signer",
        413: "The body is larger than the limit (checked on Content-Length, then while reading)",
        422: "The signed body is not a valid Batch; `errors` name each field path at fault",
    }
    return {
        status: {
            "model": ErrorResponse,
            "description": descriptions[status],
            "content": {"application/json": {"examples": examples_of_status}},
        }
        for status, examples_of_status in sorted(by_status.items())
    }
