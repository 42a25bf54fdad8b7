"""The school's people in the office: find anyone, and everything about one person on one page.

    GET  /office/schools/{school}/people                  search and filters; ?format=csv|xlsx for every match
    GET  /office/schools/{school}/people/{id}             a person: details, photo, class history, guardians or
                                                          children, consent, cards, bans, balance, last month
    POST /office/schools/{school}/people/{id}/photo       upload a photo (replaces the one in force)
    POST /office/schools/{school}/people/{id}/photo/remove
    GET  /office/schools/{school}/photos/{digest}         a photo of the school's people, for its staff

The pages read through the services the JSON API uses; what they change is journalled the same way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.api.uploads import read_upload
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import PHOTOS_REFUSED
from cloud_api.services import photos
from cloud_api.services.absences import REASON_WORDS, absences_of
from cloud_api.services.accounts import accounts_of_people
from cloud_api.services.audit import audit_page
from cloud_api.services.cards import cards_of
from cloud_api.services.consent import consent_history, consents_of
from cloud_api.services.events import person_events
from cloud_api.services.menus import bans_of, category_bans_of
from cloud_api.services.people import PeopleQuery, find_person, list_people, relatives_of
from cloud_api.services.prepaid import accounts_of, daily_limits_of
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back, listing
from cloud_api.web.office.downloads import personal_table_file
from cloud_api.web.office.words import Words
from shared.contract import credential_hash
from shared.localtime import local_date

__all__ = ["card_hasher", "person_page", "router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
_DECODERS = anyio.CapacityLimiter(2)  # photos decoded at once (up to 100 MB each, decoded)


def card_hasher(desk: Desk) -> Any:
    """The keyed hash of a typed card number, as the gateways report it; None when no key is set."""
    key = desk.request.app.state.settings.credential_key.get_secret_value()
    return (lambda number: credential_hash(key.encode(), number.strip())) if key else None


@router.get("/office/schools/{school_id}/people", response_class=HTMLResponse)
def people_page(
    desk: AdminDesk,
    q: Annotated[str, Query(max_length=100)] = "",
    class_name: Annotated[str, Query(alias="class", max_length=8)] = "",
    role: Annotated[Literal["", "student", "staff", "guardian"], Query()] = "",
    consent: Annotated[Literal["", "given", "withdrawn", "never"], Query()] = "",
    active: Annotated[Literal["", "yes", "no"], Query()] = "yes",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """Find people by name, class, card or IIN; filter by class, role, consent, active."""
    filters = {"q": q, "class": class_name, "role": role, "consent": consent, "active": active}
    place = listing(desk.request, filters, ("class", "name"))
    hasher = card_hasher(desk)
    needle = q.strip()
    query = PeopleQuery(
        role=role or None,
        class_name=class_name or None,
        q=needle or None,
        search_iin=True,
        card_hash=hasher(needle) if hasher and needle else None,
        consent=consent or None,
        active={"yes": True, "no": False}.get(active),
        sort=place.sort,  # type: ignore[arg-type]
        descending=place.descending,
        limit=100_000 if format else place.per_page,
        offset=0 if format else place.offset,
    )
    with desk.engine.connect() as conn:
        rows, total = list_people(conn, desk.school_id, query)
        if not rows and total and not format:  # a page past the end (the list shrank): its last page
            place = place.counted(total).last_page()
            rows, total = list_people(conn, desk.school_id, replace(query, offset=place.offset))
        consent_now = consents_of(conn, desk.school_id, [r["id"] for r in rows if r["role"] == "student"])
    _ = desk._
    for row in rows:
        row["consent"] = _consent_word(row, consent_now, desk)
    if format:
        words = Words(_)
        headings = [
            _("Surname"),
            _("Name"),
            _("Patronymic"),
            _("Role"),
            _("Class"),
            _("IIN"),
            _("Consent"),
            _("Active"),
        ]
        cells = (
            [
                r["last_name"],
                r["first_name"],
                r["middle_name"],
                words.person_role.get(r["role"], r["role"]),
                r["class_name"],
                r["iin"],
                r["consent"],
                _("yes") if r["active"] else _("no"),
            ]
            for r in rows
        )
        return personal_table_file(desk, format, f"people-{desk.school_id}", headings, cells)
    return desk.page(
        "office/people.html",
        title=_("People"),
        rows=rows,
        listing=place.counted(total),
        keyed=hasher is not None,
    )


def _consent_word(row: dict[str, Any], consent_now: dict[UUID, bool], desk: Desk) -> str:
    if row["role"] != "student":
        return ""
    given = consent_now.get(row["id"])
    return desk._("never asked") if given is None else desk._("given") if given else desk._("withdrawn")


def person_page(
    desk: Desk,
    person_id: UUID,
    *,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A person's page (again, with a form's errors when one failed)."""
    today = local_date(datetime.now(UTC))
    with desk.engine.connect() as conn:
        person = find_person(conn, desk.school_id, person_id)
        if person is None:
            raise DomainError("unknown_person")
        relatives = relatives_of(conn, desk.school_id, person_id)
        linked = accounts_of_people(conn, desk.school_id, [person_id, *(r["id"] for r in relatives)])
        photo = photos.person_photos_of(conn, desk.school_id, [person_id]).get(person_id)
        cards = cards_of(conn, desk.school_id, person_id) if person["role"] != "guardian" else []
        student = person["role"] == "student"
        history = consent_history(conn, desk.school_id, person_id) if student else []
        bans = bans_of(conn, desk.school_id, [person_id]).get(person_id, []) if student else []
        kinds = category_bans_of(conn, desk.school_id, [person_id]).get(person_id, []) if student else []
        money = accounts_of(conn, desk.school_id, [person_id]).get(person_id) if student else None
        limit = daily_limits_of(conn, desk.school_id, [person_id]).get(person_id) if student else None
        changes = audit_page(conn, desk.school_id, entity="person", entity_ids=[str(person_id)], limit=200)
        month = person_events(conn, desk.school_id, str(person_id), today - timedelta(days=30))
        absences = absences_of(conn, desk.school_id, person_id, since=today - timedelta(days=30)) if student else []
    classes = [
        (entry["at"], entry["before"].get("class_name") if entry["before"] else None, entry["after"]["class_name"])
        for entry in reversed(changes)
        if entry["after"] and entry["after"].get("class_name")  # a guardian's row has no class to move
    ]
    return desk.page(
        "office/person.html",
        title=f"{person['last_name']} {person['first_name']}",
        status=status,
        person=person,
        relatives=relatives,
        accounts=linked,
        photo=photo,
        cards=cards,
        history=history,
        # The newest row of each method is in force (history is newest first, both methods).
        consent=next((h["given"] for h in history if h["method"] == "card"), None),
        qr_consent=next((h["given"] for h in history if h["method"] == "qr"), None),
        bans=bans,
        kinds=kinds,
        money=money,
        daily_limit=limit,
        guardian_options=[
            (str(r["id"]), f"{r['last_name']} {r['first_name']}") for r in relatives if r["role"] == "guardian"
        ],
        classes=classes,
        events=month,
        absences=absences,
        reason_words=REASON_WORDS,
        today=today,
        errors=errors or FormErrors(),
        form=form or {},
        keyed=card_hasher(desk) is not None,
        signed_on_max=today.isoformat(),
    )


@router.get("/office/schools/{school_id}/people/{person_id}", response_class=HTMLResponse)
def person_view(desk: AdminDesk, person_id: UUID) -> HTMLResponse:
    """Everything the school holds about one person."""
    return person_page(desk, person_id)


@router.post("/office/schools/{school_id}/people/{person_id}/photo", dependencies=_checked)
async def photo_form(desk: AdminDesk, person_id: UUID) -> Response:
    """A new photo for the person: re-encoded (no metadata) and in force from the gateway's next sync."""
    try:
        _name, data = await read_upload(desk.request, "photo", photos.MAX_PHOTO_BYTES)
        image = await anyio.to_thread.run_sync(photos.reencode_photo, data, limiter=_DECODERS)
    except DomainError as refused:
        PHOTOS_REFUSED.labels(refused.code).inc()
        errors = FormErrors()
        errors.add(
            "photo", desk._(refused.code) if refused.code != "file_required" else desk._("Choose a photo first.")
        )
        return await run_in_threadpool(person_page, desk, person_id, errors=errors, status=422)
    await run_in_threadpool(_set_photo, desk, person_id, image)
    return back(f"{desk.base}/people/{person_id}?done=photo_saved#photo")


@router.post("/office/schools/{school_id}/people/{person_id}/photo/remove", dependencies=_checked)
def photo_remove(desk: AdminDesk, person_id: UUID) -> Response:
    """No photo for the person any more."""
    _set_photo(desk, person_id, None)
    return back(f"{desk.base}/people/{person_id}?done=photo_removed#photo")


def _set_photo(desk: Desk, person_id: UUID, image: photos.Reencoded | None) -> None:
    with desk.engine.begin() as conn:
        photos.set_person_photo(conn, desk.school_id, person_id, image, actor=desk.actor)


@router.get("/office/schools/{school_id}/photos/{digest}")
def school_photo(desk: AdminDesk, digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]) -> Response:
    """A photo of the school (a person's is personal data: its staff only, never cached by others)."""
    with desk.engine.connect() as conn:
        found = photos.photo(conn, digest)
    if found is None or found.school_id != desk.school_id:
        raise DomainError("not_found")
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}
    return Response(found.data, media_type=found.content_type, headers=headers)
