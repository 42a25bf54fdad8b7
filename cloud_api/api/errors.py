"""How a refusal becomes an HTTP answer, counted in ``mektep_ingest_refused_total{reason}``."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from cloud_api.core.metrics import INGEST_REFUSED
from cloud_api.models import ErrorDetail, ErrorResponse, FieldError
from cloud_api.services.signatures import Refusal, Refused
from shared.i18n import translator

__all__ = ["STATUS", "coded_error", "error_responses", "http_refusal", "language_of"]

# A batch naming another gateway than its signer is an authentication failure (401), not a
# malformed batch (422): the gateway's forwarder halves a batch on 422 until it dead-letters
# single events, whereas on 401 it keeps every event and retries until an operator fixes it.
STATUS: dict[Refusal, int] = {
    Refusal.MISSING_SIGNATURE: 401,
    Refusal.UNKNOWN_GATEWAY: 401,
    Refusal.BAD_SIGNATURE: 401,
    Refusal.STALE_TIMESTAMP: 401,
    Refusal.REPLAYED: 401,
    Refusal.GATEWAY_MISMATCH: 401,
    Refusal.TOO_LARGE: 413,
    Refusal.INVALID_BATCH: 422,
}


def http_refusal(refused: Refused) -> HTTPException:
    """The HTTP error for ``refused`` (and one more on its counter)."""
    INGEST_REFUSED.labels(refused.code.value).inc()
    errors = [FieldError(field=f, message=m) for f, m in refused.errors] if refused.errors else None
    detail = ErrorDetail(code=refused.code.value, message=refused.message, errors=errors)
    headers = {"WWW-Authenticate": "HMAC-SHA256"} if STATUS[refused.code] == 401 else None
    return HTTPException(STATUS[refused.code], detail.model_dump(exclude_none=True), headers=headers)


def _example(code: Refusal, message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    detail = ErrorDetail(code=code.value, message=message, errors=errors)
    return {"summary": code.value, "value": {"detail": detail.model_dump(exclude_none=True)}}


def error_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the ingest's refusals, one example per refusal code."""
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
        by_status.setdefault(STATUS[code], {})[code.value] = _example(code, message)
    field = FieldError(field="events.3.occurred_at", message="Input should have timezone info")
    by_status[422] = {"invalid_batch": _example(Refusal.INVALID_BATCH, f"{field.field}: {field.message}", [field])}
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


def language_of(accept_language: str | None) -> str:
    """The first language of an ``Accept-Language`` header, as two letters (``translator`` picks ours)."""
    return (accept_language or "").split(",")[0].split(";")[0].strip()[:2].lower()


def coded_error(
    status: int,
    code: str,
    accept_language: str | None = None,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    """An HTTP error whose detail is ``{code, message}``, the message in the caller's language.

    ``code`` is one of the translated codes (an ``AccountError`` or ``RosterError`` code); the
    message is in the first language of ``Accept-Language`` that we speak, else Kazakh.
    ``errors`` name the fields at fault, when there are several.
    """
    detail = ErrorDetail(code=code, message=translator(language_of(accept_language))(code), errors=errors)
    return HTTPException(status, detail.model_dump(exclude_none=True), headers=headers)
