"""The roll call for an evacuation, served by the gateway on the school's network, no Internet needed.

    GET /roll-call?lang=kk|ru|en       who is in the building now, class by class (staff in their own
                                       group), each by name with the time of their last entry; the
                                       counts per class and in total; printable, one class a sheet
    GET /api/roll-call?lang=kk|ru|en   the same, as JSON

Who is in comes from the day's granted entries and exits on the gateway's disk
(:mod:`gateway.taps.presence`), names and classes from the roster it holds: the list is right
after a restart and while the cloud is out of reach. Behind the same gate as the other pages
(:mod:`gateway.pages.sign_in`): anyone who may open them, a staff member signed in with a PIN or
a paired device, may open this one, because in an evacuation the list must come from whichever
screen is at hand, and the canteen screen already shows the same names and classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from device_drivers.base import utcnow
from gateway.storage import Storage
from gateway.taps.presence import Inside, inside_on
from shared.collation import class_key, name_key
from shared.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, translator
from shared.localtime import LOCAL_TZ
from shared.roster_contract import PersonRole, RosterPerson

__all__ = ["Group", "GroupKind", "RollCall", "RollCallList", "add_roll_call_routes"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


class GroupKind(StrEnum):
    """What a group of the list is, in the order the list shows them."""

    CLASS = "class"
    NO_CLASS = "no_class"  # students the roster gives no class
    STAFF = "staff"
    UNKNOWN = "unknown"  # passed today, no longer on the roster the gateway holds


@dataclass(frozen=True, slots=True)
class Person:
    """A line of the list."""

    person_id: str
    name: str
    entered: str  # HH:MM, local


@dataclass
class Group:
    """A class (or the staff) and who of it is in, by name."""

    kind: GroupKind
    class_name: str | None
    label: str
    people: list[Person] = field(default_factory=list)


@dataclass
class RollCallList:
    """The whole list, as of ``made_at``."""

    made_at: datetime
    groups: list[Group]
    synced: bool  # False: the gateway holds no roster, so nobody can be named

    @property
    def total(self) -> int:
        """Everyone in the building."""
        return sum(len(g.people) for g in self.groups)

    @property
    def staff(self) -> int:
        """Staff in the building."""
        return sum(len(g.people) for g in self.groups if g.kind is GroupKind.STAFF)

    @property
    def students(self) -> int:
        """Students (and anyone the roster no longer knows) in the building."""
        return self.total - self.staff


class RollCall:
    """What the roll call needs: the gateway's storage, the roster's people, the school's name, a clock."""

    def __init__(
        self,
        *,
        storage: Storage,
        people: Callable[[], Mapping[str, RosterPerson]],
        synced: Callable[[], bool],
        school_name: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.storage = storage
        self.school_name = school_name
        self._people = people
        self._synced = synced
        self.clock = clock

    async def inside_now(self, _: Translator) -> RollCallList:
        """Who is in the building now, grouped and sorted, in the reader's language."""
        now = self.clock().astimezone(LOCAL_TZ)
        day = now.date()
        inside = await self.storage.call(lambda outbox: inside_on(outbox.db, day))
        return RollCallList(now, _grouped(inside, self._people(), _), self._synced())


def _grouped(inside: list[Inside], people: Mapping[str, RosterPerson], _: Translator) -> list[Group]:
    groups: dict[tuple[GroupKind, str | None], Group] = {}
    for found in inside:
        person = people.get(found.person_id)
        if person is None:
            kind, class_name, name = GroupKind.UNKNOWN, None, "—"  # counted, though no name is left
        elif person.role is PersonRole.STAFF:
            kind, class_name, name = GroupKind.STAFF, None, person.display_name
        elif person.class_name:
            kind, class_name, name = GroupKind.CLASS, person.class_name, person.display_name
        else:
            kind, class_name, name = GroupKind.NO_CLASS, None, person.display_name
        group = groups.get((kind, class_name))
        if group is None:
            group = groups[(kind, class_name)] = Group(kind, class_name, _label(kind, class_name, _))
        group.people.append(Person(found.person_id, name, _.time(found.entered_at.astimezone(LOCAL_TZ))))
    order = list(GroupKind)
    ordered = sorted(groups.values(), key=lambda g: (order.index(g.kind), class_key(g.class_name or "")))
    for group in ordered:
        group.people.sort(key=lambda p: (name_key(p.name), p.person_id))
    return ordered


def _label(kind: GroupKind, class_name: str | None, _: Translator) -> str:
    if kind is GroupKind.CLASS:
        return _("class {name}", name=class_name)
    if kind is GroupKind.STAFF:
        return _("Staff")
    if kind is GroupKind.NO_CLASS:
        return _("Without a class")
    return _("No longer on the roster")


def _as_json(found: RollCallList) -> dict[str, Any]:
    return {
        "made_at": found.made_at.isoformat(),
        "synced": found.synced,
        "total": found.total,
        "students": found.students,
        "staff": found.staff,
        "groups": [
            {
                "kind": g.kind.value,
                "class_name": g.class_name,
                "label": g.label,
                "count": len(g.people),
                "people": [{"id": p.person_id, "name": p.name, "entered": p.entered} for p in g.people],
            }
            for g in found.groups
        ],
    }


def add_roll_call_routes(app: FastAPI, roll_call: RollCall) -> None:
    """Add the roll call's page and its JSON twin to the gateway's local app."""

    @app.get("/roll-call", response_class=HTMLResponse)
    async def roll_call_page(request: Request, lang: str = Query(default="kk")) -> HTMLResponse:
        _ = translator(lang)
        return TEMPLATES.TemplateResponse(
            request,
            "roll_call.html",
            {
                "_": _,
                "lang": _.language,
                "languages": LANGUAGES,
                "language_names": LANGUAGE_NAMES,
                "school_name": roll_call.school_name,
                "found": await roll_call.inside_now(_),
                "visitor": getattr(request.state, "visitor", None),
            },
            # A list of who is inside goes stale at the next tap: never from a cache.
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/api/roll-call")
    async def roll_call_json(response: Response, lang: str = Query(default="kk")) -> dict[str, Any]:
        response.headers["Cache-Control"] = "no-store"
        return _as_json(await roll_call.inside_now(translator(lang)))
