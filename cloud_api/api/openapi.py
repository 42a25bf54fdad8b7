"""The OpenAPI document, completed where FastAPI cannot see what a route does.

* Routes that read their body raw (to verify a signature before parsing it) name its schema in
  ``openapi_extra``; the models behind those names are added to the components, and the signature
  headers, optional in the code so that a missing one is our 401, are shown as required.
* Every error has one body, ``ErrorResponse``: FastAPI's ``HTTPValidationError`` is replaced by it,
  and the statuses every route may answer are documented on each: 400 (a body it cannot read) where
  there is a body, 401 and 403 where a session is needed, 404 where the path names something, 422
  where anything is validated. A route adds its own (:func:`cloud_api.api.errors.refusals`).
* A route that answers another protocol's error body (``POST /v1/oauth/token``: RFC 6749 §5.2's
  ``{"error", "error_description"}``) keeps the model it names for those statuses.
* A session is shown as a bearer token *or* the pages' cookie: FastAPI lists two security
  dependencies as both required.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from cloud_api.api.schemas.errors import ErrorResponse

__all__ = ["complete_openapi"]

_SHARED = {
    "400": "The body cannot be read (not UTF-8, not the declared media type): `unreadable_body`",
    "401": "No session, or one that ended: `sign_in_required` (or `admin_token_required`)",
    "403": "Signed in, but not allowed this: `not_allowed`, `not_a_guardian`",
    "404": "No such thing (or not yours, which reads the same): `not_found`, `unknown_person`, …",
    "422": "A field does not match what this route takes: `invalid_request`, each field in `errors`",
    "503": "The database, or one of its workers, does not answer: `database_unavailable`; nothing was "
    "stored, try again after `Retry-After` seconds",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def complete_openapi(app: FastAPI, raw_models: Iterable[type[BaseModel]], required_headers: Iterable[str] = ()) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    build = app.openapi
    models, required = [*raw_models, ErrorResponse], set(required_headers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            for path, operations in spec.get("paths", {}).items():
                for method, operation in operations.items():
                    if method in _METHODS:
                        _complete(path, operation, required)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(path: str, operation: dict[str, Any], required: set[str]) -> None:
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "header" and parameter["name"] in required:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "title": parameter["name"]}
    security = operation.get("security")
    if security and len(security) == 1 and len(security[0]) > 1:
        operation["security"] = [{name: scopes} for name, scopes in security[0].items()]
    responses = operation.setdefault("responses", {})
    wanted = set()
    if "requestBody" in operation and not _own_errors(responses):
        wanted |= {"400", "422"}
    if parameters:
        wanted.add("422")
    if operation.get("security"):
        wanted |= {"401", "403"}
    if "{" in path:
        wanted.add("404")
    if "503" not in responses:  # every route reads the database (a probe's own 503 stays its own)
        wanted.add("503")
    for status in sorted(wanted | {s for s in responses if s in _SHARED and s != "503"}):
        answer = responses.setdefault(status, {"description": _SHARED[status]})
        if status == "422" and answer.get("description") == "Validation Error":
            answer["description"] = _SHARED["422"]
        content = answer.setdefault("content", {})
        media = content.setdefault("application/json", {})
        declared = media.get("schema", {}).get("$ref", "")
        # A route that answers its own protocol's errors (the OAuth token endpoint: RFC 6749 §5.2)
        # keeps the body it declared; FastAPI's validation error becomes ours.
        if not declared or declared.endswith(("/HTTPValidationError", "/ErrorResponse")):
            media["schema"] = {"$ref": "#/components/schemas/ErrorResponse"}


def _own_errors(responses: dict[str, Any]) -> bool:
    """Whether the route answers its body's errors in another protocol's body (RFC 6749 §5.2): then
    it documents them itself, and FastAPI's 422 is not one of its answers."""
    for status, answer in responses.items():
        ref = answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if status.startswith("4") and ref and not ref.endswith(("/HTTPValidationError", "/ErrorResponse")):
            return True
    return False
