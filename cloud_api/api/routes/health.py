"""``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep
from cloud_api.models import Health

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer"}},
)
async def healthz(engine: EngineDep) -> JSONResponse:
    """200 when the database answers ``SELECT 1``, 503 otherwise (a load balancer's probe)."""
    problem = await run_in_threadpool(_database_problem, engine)
    if problem:
        return JSONResponse(Health(status="error", database=problem).model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok").model_dump())


def _database_problem(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The class only (OperationalError…): the message may hold a host name or a user.
        return type(getattr(exc, "orig", None) or exc).__name__
    return None


@router.get("/metrics", response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    """Prometheus text exposition of the process's counters."""
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
