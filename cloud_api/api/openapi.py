"""OpenAPI for routes that read their body raw (to verify a signature before parsing it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["document_raw_bodies"]


def document_raw_bodies(app: FastAPI, models: Iterable[type[BaseModel]], required_headers: Iterable[str] = ()) -> None:
    """Complete ``app``'s OpenAPI document for raw-body, self-authenticating routes.

    * ``models``' JSON schemas are added to the components: a raw-body route names its schema in
      ``openapi_extra`` as ``#/components/schemas/<Model>``, and FastAPI only collects the models
      of the parameters it parses itself.
    * ``required_headers`` are shown as required strings: the route declares them optional only
      so that a missing one gets its own 401 rather than FastAPI's 422.
    """
    build = app.openapi
    models, required = list(models), set(required_headers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter["in"] == "header" and parameter["name"] in required:
                            parameter["required"] = True
                            parameter["schema"] = {"type": "string", "title": parameter["name"]}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
