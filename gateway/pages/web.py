"""The gateway's own web page and JSON API, served on the school's network, no Internet needed.

    GET /                   the latest events, live (the page polls /api/events)
    GET /api/events         the newest events with their delivery state
    GET /api/status         counters of the pipeline, the outbox, the forwarder and the drivers, and
                            the health: host, parts, oldest undelivered event, clock offset, version
    GET /metrics            Prometheus text (the same)
    GET /healthz            200 while the pipeline runs

and, when given a :class:`~gateway.pages.canteen.CanteenDesk`, the canteen staff's screen
(``/canteen``, ``/api/canteen``, ``/api/canteen/manual``; see :mod:`gateway.pages.canteen`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.pages.canteen import CanteenDesk, add_canteen_routes
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, translator

__all__ = ["create_ui_app"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Messages the page's script needs, sent to it already translated.
PAGE_MESSAGES = [
    "entry",
    "exit",
    "meal",
    "denied",
    "device_status",
    "granted",
    "recorded",
    "pending",
    "delivered",
    "rejected",
    "online",
    "offline",
    "no_roster",
    "unknown_reader",
    "storage_error",
]


def create_ui_app(
    *,
    school_name: str,
    latest: Callable[[int], Any],
    status: Callable[[], dict[str, Any]],
    registry: CollectorRegistry,
    canteen: CanteenDesk | None = None,
    refresh: Callable[[], Awaitable[object]] | None = None,
) -> FastAPI:
    """Build the local UI. ``latest`` is awaited with a limit; ``status`` returns a dict.

    ``refresh`` is awaited before ``/api/status`` and ``/metrics`` answer: it samples the host's
    and the outbox's health, so that both show it as of the request.

    ``canteen`` adds the canteen staff's screen (a gateway judging by a roster has one).
    """
    app = FastAPI(title="Mektep Gate — gateway", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, lang: str = Query(default="kk")) -> HTMLResponse:
        _ = translator(lang)
        return TEMPLATES.TemplateResponse(
            request,
            "events.html",
            {
                "_": _,
                "lang": _.language,
                "languages": LANGUAGES,
                "language_names": LANGUAGE_NAMES,
                "school_name": school_name,
                "messages": {m: _(m) for m in PAGE_MESSAGES},
            },
        )

    @app.get("/api/events")
    async def events(limit: int = Query(default=50, ge=1, le=500)) -> list[dict[str, Any]]:
        return await latest(limit)

    @app.get("/api/status")
    async def api_status() -> dict[str, Any]:
        if refresh is not None:
            await refresh()
        return status()

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        if refresh is not None:
            await refresh()
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if canteen is not None:
        add_canteen_routes(app, canteen)
    return app
