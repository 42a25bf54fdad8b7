"""The school administrator's roster: import the NEDB export, find people, give out cards, read the journal.

    POST /v1/schools/{school_id}/roster/import                    upload a CSV or XLSX export (school_admin)
    GET  /v1/schools/{school_id}/people                           find people (school_admin, canteen_staff)
    GET  /v1/schools/{school_id}/people/{person_id}/cards         a person's cards (school_admin, canteen_staff)
    POST /v1/schools/{school_id}/people/{person_id}/cards         give a card (school_admin)
    POST /v1/schools/{school_id}/cards/{card_id}/block            block a lost card (school_admin)
    POST /v1/schools/{school_id}/cards/{card_id}/replace          replace a card (school_admin)
    GET  /v1/schools/{school_id}/audit                            the audit journal (school_admin)

The admin token may do all of it. The import is the very service behind ``mektep roster import``;
what a route changes is journalled with the signed-in account as actor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, LanguageDep, SchoolAdmin, SchoolPath, SchoolStaff, SettingsDep
from cloud_api.api.errors import refusals
from cloud_api.api.routes.people import RETURNS_PERSON
from cloud_api.api.schemas.accounts import PersonPublic
from cloud_api.api.schemas.roster import (
    AuditItem,
    AuditPage,
    CardAssign,
    CardPublic,
    CardReplace,
    ImportResult,
    PeoplePage,
    PersonAdmin,
    RefusedRow,
)
from cloud_api.api.uploads import multipart_body, read_upload
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import ROSTER_FILES_REFUSED, ROSTER_ROWS_REFUSED
from cloud_api.roster.nedb import FILE_CODES, FILE_KINDS, FileKind, parse_export
from cloud_api.services.accounts import Role, logins_of
from cloud_api.services.audit import account_of_actor, audit_page
from cloud_api.services.cards import (
    CARD_HOLDERS,
    assign_card,
    block_card,
    cards_of,
    get_card,
    number_hint,
    replace_card,
)
from cloud_api.services.people import PeopleQuery, list_people
from cloud_api.services.roster_import import import_roster
from shared.contract import CredentialKind, credential_hash
from shared.i18n import translator

__all__ = ["router"]

router = APIRouter(tags=["roster"])

CARD_HOLDERS_ROLES = tuple(sorted(CARD_HOLDERS))  # what canteen staff may list: who eats and taps
_FILE_REFUSALS = ("multipart_required", "unsupported_file_type", "file_too_large", "bad_upload", "file_required")


# -- the NEDB export -------------------------------------------------------------------------------


@router.post(
    "/v1/schools/{school_id}/roster/import",
    response_model=ImportResult,
    summary="Import the school's NEDB roster export (CSV or XLSX)",
    responses=refusals(*_FILE_REFUSALS, *FILE_CODES, "roster_busy"),
    openapi_extra=multipart_body("file", "The NEDB export: .csv (UTF-8, comma or semicolon) or .xlsx."),
)
async def import_export(
    request: Request,
    school_id: SchoolPath,
    principal: SchoolAdmin,
    engine: EngineDep,
    settings: SettingsDep,
    language: LanguageDep,
    complete: Annotated[
        bool,
        Query(
            description="The file lists everyone of the school: students and staff it leaves out have left "
            "(marked inactive), unless a row is refused."
        ),
    ] = False,
) -> ImportResult:
    """Store the good rows of the uploaded export; the refused rows are listed with row, column and reason.

    Importing the same file again changes nothing. Every change is in the audit journal, with the
    signed-in account as actor. A file unusable as a whole is refused with its reason
    (`missing_columns` names them in `errors`).
    """
    with _counted():
        name, data = await read_upload(request, "file", settings.max_roster_bytes)
        kind = FILE_KINDS.get(PurePath(name).suffix.lower())
        if kind is None:
            raise DomainError("unsupported_file_type")
    # Parsing and storing are blocking (openpyxl, the database): off the event loop.
    return await run_in_threadpool(_import, engine, school_id, data, kind, principal.actor, complete, language)


@contextmanager
def _counted() -> Iterator[None]:
    """Count a file refused as a whole in ``mektep_roster_files_refused{code}``; the refusal goes on."""
    try:
        yield
    except DomainError as error:
        ROSTER_FILES_REFUSED.labels(error.code).inc()
        raise


def _import(
    engine: Engine, school_id: str, data: bytes, kind: FileKind, actor: str, complete: bool, language: str
) -> ImportResult:
    with _counted():
        roster = parse_export(data, kind)
    try:
        with engine.begin() as conn:
            report = import_roster(conn, school_id, roster, actor=actor, complete=complete)
    except IntegrityError:
        # Two imports of one school at once: both saw the same person missing and both inserted.
        raise DomainError("roster_busy") from None
    for problem in report.problems:
        ROSTER_ROWS_REFUSED.labels(problem.code).inc()
    _ = translator(language)
    refused = [
        RefusedRow(row=p.row, column=p.column, code=p.code, message=_(p.code), value=p.value)
        for p in sorted(report.problems, key=lambda p: (p.row, p.column))
    ]
    return ImportResult(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        links_added=report.links_added,
        links_removed=report.links_removed,
        left=report.left,
        departures_held=report.departures_held,
        version=report.version,
        refused=refused,
    )


# -- people ----------------------------------------------------------------------------------------


@router.get(
    "/v1/schools/{school_id}/people",
    response_model=PeoplePage[PersonAdmin] | PeoplePage[PersonPublic],
    summary="Find a school's people",
    description="The school's administrator sees everyone with IIN, language and contacts (`PersonAdmin`); "
    "canteen staff see students and staff only, without them: the fields are absent (`PersonPublic`).",
    openapi_extra=RETURNS_PERSON,
)
def school_people(
    school_id: SchoolPath,
    principal: SchoolStaff,
    engine: EngineDep,
    role: Literal["student", "staff", "guardian"] | None = None,
    class_name: Annotated[str | None, Query(alias="class", max_length=8, examples=["3Б"])] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name (any case); an IIN's start.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JSONResponse:
    """Students by grade and class, then staff (and guardians), each by name; `total` counts every match."""
    admin = principal.has(Role.SCHOOL_ADMIN, school_id)
    # Canteen staff serve students and staff: guardians are none of their business. Only the
    # administrator may search by IIN: for others a match would confirm whose IIN it is.
    query = PeopleQuery(
        role=role,
        roles=None if admin else CARD_HOLDERS_ROLES,
        class_name=class_name,
        q=q,
        search_iin=admin,
        limit=limit,
        offset=offset,
    )
    with engine.connect() as conn:
        rows, total = list_people(conn, school_id, query)
    shown: type[PersonPublic] = PersonAdmin if admin else PersonPublic
    items = [shown.model_validate(row) for row in rows]
    page = PeoplePage[shown](items=items, total=total, limit=limit, offset=offset)  # type: ignore[valid-type]
    # Serialised by the class chosen above, not through the response model's union, so that a
    # field the caller may not see is absent whatever union resolution would pick.
    return JSONResponse(page.model_dump(mode="json"))


# -- cards -----------------------------------------------------------------------------------------

Hasher = Callable[[str], str]


def _hasher(settings: SettingsDep) -> Hasher:
    key = settings.credential_key.get_secret_value()
    if not key:
        # A card hashed with another key than the gateways' would open nothing and say "unknown card".
        raise DomainError("credential_key_not_set")
    return lambda number: credential_hash(key.encode(), number)


_CARD_REFUSALS = refusals(
    "unknown_person",
    "unknown_card",
    "card_already_assigned",
    "card_not_active",
    "not_a_card_holder",
    "credential_key_not_set",
)


@router.get(
    "/v1/schools/{school_id}/people/{person_id}/cards",
    response_model=list[CardPublic],
    summary="A person's cards, newest first",
    responses=refusals("unknown_person"),
)
def person_cards(school_id: SchoolPath, person_id: UUID, _: SchoolStaff, engine: EngineDep) -> list[CardPublic]:
    """Every card the person ever had, with its status (active, blocked, replaced); never a hash."""
    with engine.connect() as conn:
        return [CardPublic.model_validate(row) for row in cards_of(conn, school_id, person_id)]


@router.post(
    "/v1/schools/{school_id}/people/{person_id}/cards",
    response_model=CardPublic,
    status_code=201,
    summary="Give a student or staff member a card",
    responses=_CARD_REFUSALS,
)
def assign(
    school_id: SchoolPath,
    person_id: UUID,
    body: CardAssign,
    principal: SchoolAdmin,
    settings: SettingsDep,
    engine: EngineDep,
) -> CardPublic:
    """The card opens the school's readers from each gateway's next roster pull."""
    hashed = _hasher(settings)(body.card_number)
    kind = CredentialKind(body.kind.value)
    return _card_change(
        engine,
        school_id,
        lambda conn: assign_card(
            conn, school_id, person_id, kind, hashed, actor=principal.actor, hint=number_hint(body.card_number)
        ),
    )


@router.post(
    "/v1/schools/{school_id}/cards/{card_id}/block",
    response_model=CardPublic,
    summary="Block a lost or stolen card",
    responses=_CARD_REFUSALS,
)
def block(school_id: SchoolPath, card_id: UUID, principal: SchoolAdmin, engine: EngineDep) -> CardPublic:
    """Every reader of the school refuses the card ("card blocked") from its gateway's next roster pull."""

    def change(conn: Connection) -> UUID:
        block_card(conn, school_id, card_id, actor=principal.actor)
        return card_id

    return _card_change(engine, school_id, change)


@router.post(
    "/v1/schools/{school_id}/cards/{card_id}/replace",
    response_model=CardPublic,
    status_code=201,
    summary="Replace a card with a new one",
    responses=_CARD_REFUSALS,
)
def replace(
    school_id: SchoolPath,
    card_id: UUID,
    body: CardReplace,
    principal: SchoolAdmin,
    settings: SettingsDep,
    engine: EngineDep,
) -> CardPublic:
    """The old card is refused ("replaced"), the new one (same kind unless given) opens; one change."""
    hashed = _hasher(settings)(body.card_number)
    kind = CredentialKind(body.kind.value) if body.kind else None
    return _card_change(
        engine,
        school_id,
        lambda conn: replace_card(
            conn, school_id, card_id, hashed, actor=principal.actor, kind=kind, hint=number_hint(body.card_number)
        ),
    )


def _card_change(engine: Engine, school_id: str, change: Callable[[Connection], UUID]) -> CardPublic:
    """Run ``change`` in one transaction and show the card it names; a refusal rolls all of it back."""
    try:
        with engine.begin() as conn:
            card_id = change(conn)
            return CardPublic.model_validate(get_card(conn, school_id, card_id))
    except IntegrityError:
        # The same card given to someone else at the same moment: the unique hash refused one.
        raise DomainError("card_already_assigned") from None


# -- the audit journal -----------------------------------------------------------------------------


@router.get(
    "/v1/schools/{school_id}/audit",
    response_model=AuditPage,
    summary="The school's audit journal, newest first",
    openapi_extra=RETURNS_PERSON,
)
def audit(
    school_id: SchoolPath,
    _: SchoolAdmin,
    engine: EngineDep,
    entity: Annotated[
        str | None, Query(max_length=32, description="Only this kind of record.", examples=["person", "credential"])
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Only changes at or after this instant.", examples=["2026-11-20T00:00:00+05:00"]),
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Paging: the previous page's `next_before`.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Who changed what and when, with the fields before and after (Order No. 456 §5)."""
    with engine.connect() as conn:
        rows = audit_page(conn, school_id, entity=entity, since=since, before_id=before, limit=limit)
        logins = logins_of(conn, filter(None, (account_of_actor(r["actor"]) for r in rows)))
    items = [AuditItem(**row, actor_login=logins.get(account_of_actor(row["actor"]))) for row in rows]
    return AuditPage(items=items, next_before=items[-1].id if len(items) == limit else None)
