"""The gateway's own web page and JSON API, served on the school's network, no Internet needed.

    GET /                   the latest events, rendered on the server, kept live by a script
                            (which polls /api/events); on the school's network, the access journal
    GET /api/events?lang=   the newest events with their delivery state, and each code's words
    GET /api/status         counters of the pipeline, the outbox, the forwarder and the drivers, and
                            the health: host, parts, oldest undelivered event, clock offset, version
    GET /metrics            Prometheus text (the same)
    GET /healthz            200 while the pipeline runs

and, when given a :class:`~gateway.pages.canteen.CanteenDesk`, the canteen staff's screen
(``/canteen``, ``/api/canteen``, ``/api/canteen/manual``; see :mod:`gateway.pages.canteen`), and
when given a :class:`~gateway.pages.roll_call.RollCall`, the roll call for an evacuation
(``/roll-call``, ``/api/roll-call``; see :mod:`gateway.pages.roll_call`).

Given a :class:`~gateway.access.gate.LocalAccess` that is required (the pages listen on an address
that is not loopback), staff sign in first (:mod:`gateway.pages.sign_in`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.access.gate import LocalAccess
from gateway.access.store import JournalRow
from gateway.pages.canteen import CanteenDesk, add_canteen_routes
from gateway.pages.roll_call import RollCall, add_roll_call_routes
from gateway.pages.sign_in import add_sign_in
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, translator
from shared.localtime import LOCAL_TZ

__all__ = ["LATEST", "create_ui_app", "event_rows"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
LATEST = 30  # events on the page
JOURNAL = 15  # lines of the access journal on the page
# Messages the page's script needs, sent to it already translated.
PAGE_MESSAGES = ["online", "offline"]


def event_rows(events: list[dict[str, Any]], _: Translator) -> list[dict[str, Any]]:
    """Events as the page shows them: local time, and the words for each code in the reader's language.

    A reason is a :class:`~gateway.taps.policy.Reason` or, for a device's event, a
    :class:`~device_drivers.base.LinkState`; the catalogs hold words for each (a test checks).
    """
    return [
        {
            "at": e["occurred_at"][11:19],
            "device_id": e["device_id"],
            "kind": e["kind"],
            "kind_label": _(e["kind"]),
            "decision": e["decision"],
            "decision_label": _(e["decision"]),
            "reason": e["reason"],
            "reason_label": _(e["reason"]),
            "state": e["state"],
            "state_label": _(e["state"]),
        }
        for e in events
    ]


def create_ui_app(
    *,
    school_name: str,
    latest: Callable[[int], Any],
    status: Callable[[], dict[str, Any]],
    registry: CollectorRegistry,
    canteen: CanteenDesk | None = None,
    roll_call: RollCall | None = None,
    access: LocalAccess | None = None,
    refresh: Callable[[], Awaitable[object]] | None = None,
) -> FastAPI:
    """Build the local UI. ``latest`` is awaited with a limit; ``status`` returns a dict.

    ``refresh`` is awaited before ``/api/status`` and ``/metrics`` answer: it samples the host's
    and the outbox's health, so that both show it as of the request.

    ``canteen`` adds the canteen staff's screen (a gateway judging by a roster has one), ``roll_call``
    the roll call; ``access``, when required, the sign-in in front of every page.
    """
    app = FastAPI(title="Mektep Gate — gateway", docs_url=None, redoc_url=None)
    gated = access is not None and access.required

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, lang: str = Query(default="kk")) -> HTMLResponse:
        _ = translator(lang)
        journal = await access.journal(JOURNAL) if gated and access is not None else None
        state = status()
        outbox = state.get("outbox") or {}
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
                "events": event_rows(await latest(LATEST), _),
                "counts": {k: outbox.get(k, "–") for k in ("recorded", "pending", "delivered")},
                "cloud_online": (state.get("forwarder") or {}).get("cloud_online"),
                "journal": None if journal is None or access is None else _journal_rows(journal, access, _),
                "visitor": getattr(request.state, "visitor", None),
                "latest": LATEST,
                "roll_call": roll_call is not None,
            },
        )

    @app.get("/api/events")
    async def events(
        limit: int = Query(default=50, ge=1, le=500), lang: str = Query(default="kk")
    ) -> list[dict[str, Any]]:
        found = await latest(limit)
        labels = event_rows(found, translator(lang))
        return [{**event, "labels": row} for event, row in zip(found, labels, strict=True)]

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
        add_canteen_routes(app, canteen, roll_call=roll_call is not None)
    if roll_call is not None:
        add_roll_call_routes(app, roll_call)
    if gated and access is not None:
        add_sign_in(app, access)
    return app


def _journal_rows(rows: list[JournalRow], access: LocalAccess, _: Translator) -> list[dict[str, Any]]:
    local = [datetime.fromisoformat(row.at).astimezone(LOCAL_TZ) for row in rows]
    return [
        {
            "at": f"{_.date(at)} {_.time(at)}",
            "action": _(f"access_{row.action.value}"),
            "who": access.staff_name(row.staff_id) or row.device_name or "—",
            "address": row.address or "",
        }
        for row, at in zip(rows, local, strict=True)
    ]
