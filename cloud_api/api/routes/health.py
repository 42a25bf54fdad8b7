"""``GET /healthz`` and ``GET /metrics``.

``/metrics`` is the process-wide counters (:mod:`cloud_api.core.metrics`) followed by the app's own
registry, if its lifespan made one: the host's, the process's, the database's and the queues' figures
(:class:`cloud_api.services.process_health.CloudHealthCollector`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep
from cloud_api.api.schemas.health import Health
from cloud_api.services.health import database_problem

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer"}},
)
async def healthz(engine: EngineDep) -> JSONResponse:
    """200 when the database answers ``SELECT 1``, 503 otherwise (a load balancer's probe)."""
    problem = await run_in_threadpool(database_problem, engine)
    if problem:
        return JSONResponse(Health(status="error", database=problem).model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok").model_dump())


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text exposition of the process's counters and its health (a sync route: on a thread)."""
    text = generate_latest()
    own = getattr(request.app.state, "health_registry", None)
    if own is not None:
        text += generate_latest(own)
    return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)
