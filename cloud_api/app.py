"""The cloud API, built in a factory so that tests can hand it their own settings and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from cloud_api.api.routes import events, health, ingest
from cloud_api.contract import Batch
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.settings import CloudSettings

__all__ = ["create_app"]


def create_app(settings: CloudSettings | None = None) -> FastAPI:
    """A new app; its engine is made (and migrations run) when it starts."""
    settings = settings or CloudSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            upgrade(settings.database_url)
        app.state.engine = make_engine(settings.database_url)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="Mektep Gate cloud API",
        version="0.1.0",
        description="Signed, idempotent ingest of school gateway events, and their read-back.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(ingest.router)
    app.include_router(events.router)
    app.include_router(health.router)
    _document_raw_bodies(app)
    return app


def _document_raw_bodies(app: FastAPI) -> None:
    """Put the ``Batch`` schema in the OpenAPI document: ingest reads its body raw (to verify it first)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schema = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["Batch"] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
