"""A file uploaded as ``multipart/form-data``, read with a size limit before anything is parsed.

FastAPI's ``UploadFile`` parameter would spool the whole body to disk before the route could
refuse it; here the body is counted as it arrives (``read_limited``), and only a body within the
limit is parsed, from memory.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from cloud_api.api.deps import read_limited
from cloud_api.core.errors import DomainError

__all__ = ["ENVELOPE_BYTES", "multipart_body", "read_upload"]

# Room for the multipart envelope (boundaries, part headers) around a file of the limit's size.
ENVELOPE_BYTES = 64 * 1024


async def read_upload(
    request: Request, field: str, limit: int, others: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """The name and bytes of the one file in ``field``, at most ``limit`` bytes; the form's other
    (text) fields into ``others`` when given (a page's form sends a checkbox beside the file).

    Refusals: ``multipart_required`` (not a form upload), ``file_too_large``, ``bad_upload`` (a
    malformed form) and ``file_required`` (no file in ``field``).
    """
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise DomainError("multipart_required")
    body = await read_limited(request, limit + ENVELOPE_BYTES, lambda: DomainError("file_too_large"))
    try:
        form = await _replayed(request, body).form(max_files=1, max_fields=16, max_part_size=ENVELOPE_BYTES)
    except (MultiPartException, StarletteHTTPException):
        raise DomainError("bad_upload") from None
    upload = form.get(field)
    if others is not None:
        others.update({k: v for k, v in form.items() if isinstance(v, str)})
    if not isinstance(upload, UploadFile):
        raise DomainError("file_required")
    data = await upload.read()
    await form.close()
    if len(data) > limit:
        raise DomainError("file_too_large")
    return upload.filename or "", data


def _replayed(request: Request, body: bytes) -> Request:
    """A request over the same scope whose body is ``body`` (the original stream is consumed)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(dict(request.scope), receive)


def multipart_body(field: str, description: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads one file of ``field`` with :func:`read_upload`."""
    schema = {
        "type": "object",
        "required": [field],
        "properties": {field: {"type": "string", "format": "binary", "description": description}},
    }
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
