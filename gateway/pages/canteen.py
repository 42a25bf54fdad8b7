"""The canteen staff's screen, served by the gateway on the school's network, no Internet needed.

    GET  /canteen?lang=kk|ru|en   the page: today's period and set meal, served / eligible, the
                                  last taps (name and class, for a look at the child), and a
                                  manual entry for a child who forgot the card
    GET  /api/canteen?lang=…      what the page shows, as JSON (the page polls it every 2 s)
    GET  /photos/{sha256}         a photo the roster names (a child's face, a dish), held offline
    POST /api/canteen/manual      {pin, staff_id, person_id, reason, dish_ids?}: serve a child by
                                  name; with dish_ids, those dishes instead of the set meal (an
                                  allowed alternative for a child whose ban the set meal breaks)

A manual entry is signed by a canteen staff member's PIN (the roster holds its PBKDF2 hash), is
judged by the same rules as a card (:meth:`~gateway.taps.rules.RosterPolicy.decide_person`) and is
recorded through the pipeline with the staff member and the reason on the event, for the audit.
Answers: 422 a missing or too long reason; 403 a wrong PIN (counted); 429 a staff member locked
after :data:`MAX_FAILURES` wrong PINs, for :data:`LOCK_FOR`; 503 the event could not be recorded.

:class:`CanteenDesk` is everything the routes need, handed to
:func:`gateway.pages.web.create_ui_app`; the routes never see the gateway itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from device_drivers.base import utcnow
from gateway.roster.photos import digest_of, photo
from gateway.roster.store import RosterIndex
from gateway.storage import Storage
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy
from shared.contract import MANUAL_REASON_MAX, ManualEntry
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, translator
from shared.localtime import LOCAL_TZ
from shared.pins import verify_pin
from shared.roster_contract import PersonRole, RosterPerson

__all__ = ["LOCK_FOR", "MAX_FAILURES", "CanteenDesk", "ManualRequest", "PinGuard", "add_canteen_routes"]

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=5)
LAST_TAPS = 20
SCREEN_DEVICE = "canteen-screen"  # the device of a manual entry when the site has no canteen terminal
# Answers to a manual entry the page's script shows, sent to it already translated.
PAGE_MESSAGES = ["wrong_pin", "staff_locked", "storage_error", "reason_required", "granted", "denied"]


class ManualRequest(BaseModel):
    """A manual entry as the screen sends it."""

    model_config = ConfigDict(extra="forbid")

    pin: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    staff_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # Stripped first: a reason of spaces is no reason.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MANUAL_REASON_MAX)]
    dish_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=20)


class PinGuard:
    """Counts wrong PINs per staff member and locks one out after too many, for a while."""

    def __init__(self, max_failures: int = MAX_FAILURES, lock_for: timedelta = LOCK_FOR) -> None:
        self.max_failures = max_failures
        self.lock_for = lock_for
        # Keyed by roster staff only (unknown ids are not counted), so it cannot grow without end.
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, datetime] = {}

    def locked(self, staff_id: str, now: datetime) -> bool:
        """True while ``staff_id`` is locked out."""
        until = self._locked_until.get(staff_id)
        if until is None:
            return False
        if now >= until:
            del self._locked_until[staff_id]  # the lock ran out: a fresh count of failures
            return False
        return True

    def failed(self, staff_id: str, now: datetime) -> None:
        """Count a wrong PIN; the last one allowed locks the staff member out."""
        failures = self._failures.get(staff_id, 0) + 1
        if failures >= self.max_failures:
            self._locked_until[staff_id] = now + self.lock_for
            failures = 0
        self._failures[staff_id] = failures

    def succeeded(self, staff_id: str) -> None:
        """A right PIN forgets the failures before it."""
        self._failures.pop(staff_id, None)


class CanteenDesk:
    """What the canteen screen needs: the rules, the pipeline, the outbox and the canteen points."""

    def __init__(
        self,
        *,
        policy: RosterPolicy,
        pipeline: Pipeline,
        storage: Storage,
        points: Sequence[AccessPoint] = (),
        clock: Callable[[], datetime] = utcnow,
        guard: PinGuard | None = None,
    ) -> None:
        self.policy = policy
        self.pipeline = pipeline
        self.storage = storage
        canteens = [p for p in points if p.place is Place.CANTEEN]
        # A manual entry is recorded at the school's (first) canteen terminal: that is where the
        # child is served; a site without one gets the screen's own device id.
        self.point = canteens[0] if canteens else AccessPoint(SCREEN_DEVICE, Place.CANTEEN)
        self.devices = sorted({p.device_id for p in canteens} | {self.point.device_id})
        self.clock = clock
        self.guard = guard or PinGuard()
        self._eligible: tuple[RosterIndex | None, int] = (None, 0)

    def _today(self) -> tuple[date, datetime]:
        local = self.clock().astimezone(LOCAL_TZ)
        return local.date(), local

    def eligible(self) -> int:
        """Active students with school meals; counted once per roster, not once per poll."""
        index = self.policy.index
        if self._eligible[0] is not index:
            count = sum(
                1
                for p in index.people.values()
                if p.active and p.role is PersonRole.STUDENT and p.meal_category is not None
            )
            self._eligible = (index, count)
        return self._eligible[1]

    async def snapshot(self, language: str) -> dict[str, Any]:
        """Everything the screen shows, in ``language``."""
        _ = translator(language)
        index = self.policy.index
        day, local = self._today()
        period = index.period_at(local.time())
        dishes: list[dict[str, str | None]] = []
        if period is not None and (set_meal := index.menu.get((day, period.name))) is not None:
            for dish_id in set_meal.dish_ids:
                dish = index.dishes.get(dish_id)
                if dish is not None:
                    name = dish.names.get(_.language) or next(iter(dish.names.values()))
                    dishes.append({"name": name, "photo_url": _photo_url(dish.photo_url)})
        devices = self.devices
        rows = await self.storage.call(lambda outbox: outbox.latest_at(devices, LAST_TAPS))
        return {
            "day": day.isoformat(),
            "period": None if period is None else period.name,
            "period_label": None if period is None else _(period.name),
            "dishes": dishes,
            "served": 0 if period is None else self.policy.served_count(day, period.name),
            "eligible": self.eligible(),
            "taps": [_tap(row, index, _) for row in rows],
        }

    def choices(self, language: str) -> list[dict[str, Any]]:
        """Every dish staff may serve instead of the set meal, with its allergens named."""
        _ = translator(language)
        dishes = [
            {
                "id": str(dish.id),
                "name": dish.names.get(_.language) or next(iter(dish.names.values())),
                "allergens": [_(a.value) for a in dish.allergens],
            }
            for dish in self.policy.index.dishes.values()
        ]
        return sorted(dishes, key=lambda d: d["name"])

    def people(self) -> tuple[list[RosterPerson], list[RosterPerson]]:
        """Who may sign a manual entry (a PIN on the roster), and the children who may be named."""
        people = [p for p in self.policy.index.people.values() if p.active]
        staff = sorted((p for p in people if p.canteen_pin_hash), key=lambda p: p.display_name)
        children = sorted(
            (p for p in people if p.role is PersonRole.STUDENT and p.meal_category is not None),
            key=lambda p: (p.class_name or "", p.display_name),
        )
        return staff, children

    async def manual(self, request: ManualRequest, language: str) -> dict[str, Any]:
        """Check the staff member's PIN, judge the child by the rules and record it (see module doc)."""
        _ = translator(language)
        now = self.clock()
        staff = self.policy.index.people.get(request.staff_id)
        if staff is None or not staff.active or not staff.canteen_pin_hash:
            raise HTTPException(403, {"code": "wrong_pin", "message": _("wrong_pin")})
        if self.guard.locked(request.staff_id, now):
            raise HTTPException(429, {"code": "staff_locked", "message": _("staff_locked")})
        # PBKDF2 takes a good part of a second by design: off the loop, or every reader waits.
        if not await asyncio.to_thread(verify_pin, request.pin, staff.canteen_pin_hash):
            self.guard.failed(request.staff_id, now)
            log.warning("canteen screen: wrong PIN for staff %s", request.staff_id)
            raise HTTPException(403, {"code": "wrong_pin", "message": _("wrong_pin")})
        self.guard.succeeded(request.staff_id)
        verdict = self.policy.decide_person(request.person_id, self.point, now, request.dish_ids)
        entry = ManualEntry(staff_id=request.staff_id, reason=request.reason)
        try:
            recorded = await self.pipeline.manual(self.point.device_id, now, verdict, entry)
        except Exception:
            log.exception("recording a manual entry failed")
            raise HTTPException(503, {"code": "storage_error", "message": _("storage_error")}) from None
        return {
            "event_id": recorded.event.id,
            "granted": verdict.granted,
            "reason": str(verdict.reason),
            "reason_label": _(verdict.reason),
            "name": verdict.person_name,
            "class_name": verdict.class_name,
            "detail": [_(item) for item in verdict.detail],
        }


def _tap(row: dict[str, Any], index: RosterIndex, _: Translator) -> dict[str, Any]:
    person = index.people.get(row.get("local_person") or row.get("person_id") or "")
    manual = row.get("manual")
    staff = index.people.get(manual["staff_id"]) if manual else None
    return {
        "at": row["occurred_at"][11:19],
        "name": None if person is None else person.display_name,
        "class_name": None if person is None else person.class_name,
        "photo_url": None if person is None else _photo_url(person.photo_sha256),
        "decision": row["decision"],
        "decision_label": _(row["decision"]),
        "reason": row["reason"],
        "reason_label": _(row["reason"]),
        "dishes": (row.get("meal") or {}).get("dishes", []),
        "manual": manual is not None,
        "staff_name": None if staff is None else staff.display_name,
        "manual_reason": None if manual is None else manual["reason"],
    }


def _photo_url(reference: str | None) -> str | None:
    # Relative, like the page's API calls: the gateway may sit behind a prefix on the school's network.
    digest = digest_of(reference)
    return None if digest is None else f"photos/{digest}"


def add_canteen_routes(app: FastAPI, desk: CanteenDesk, *, roll_call: bool = False) -> None:
    """Add the canteen screen's page and API to the gateway's local app (``roll_call``: link to it)."""

    @app.get("/canteen", response_class=HTMLResponse)
    async def canteen_page(request: Request, lang: str = Query(default="kk")) -> HTMLResponse:
        _ = translator(lang)
        staff, children = desk.people()
        return TEMPLATES.TemplateResponse(
            request,
            "canteen.html",
            {
                "_": _,
                "lang": _.language,
                "languages": LANGUAGES,
                "language_names": LANGUAGE_NAMES,
                "state": await desk.snapshot(_.language),
                "staff": staff,
                "children": children,
                "choices": desk.choices(_.language),
                "reason_max": MANUAL_REASON_MAX,
                "messages": {m: _(m) for m in PAGE_MESSAGES},
                "visitor": getattr(request.state, "visitor", None),
                "roll_call": roll_call,
            },
        )

    @app.get("/api/canteen")
    async def canteen_state(lang: str = Query(default="kk")) -> dict[str, Any]:
        return await desk.snapshot(translator(lang).language)

    @app.get("/photos/{digest}")
    async def canteen_photo(digest: Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$")]) -> Response:
        found = await desk.storage.call(lambda outbox: photo(outbox.db, digest))
        if found is None:
            return Response(status_code=404)
        content_type, data = found
        return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=86400"})

    @app.post("/api/canteen/manual")
    async def canteen_manual(body: ManualRequest, lang: str = Query(default="kk")) -> dict[str, Any]:
        return await desk.manual(body, translator(lang).language)
