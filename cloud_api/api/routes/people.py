"""People as their school's staff and their own guardians see them.

    GET  /v1/me/children                             a guardian's own children
    GET  /v1/schools/{school_id}/people/{person_id}  staff of the school; a guardian for their own child
    POST /v1/me/children/{child_id}/consent          a guardian gives or withdraws consent

Every route that returns a person is marked ``openapi_extra={"x-returns-person": True}``
(``RETURNS_PERSON``): a test finds them all in ``app.routes`` and checks that a guardian never
reads another family's child and that staff never read another school, so a new route cannot be
forgotten. A person not one's own is a 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from cloud_api.account_models import ChildPublic, ConsentIn, PersonPublic
from cloud_api.api.deps import AcceptLanguage, CurrentAccount, CurrentGuardian, EngineDep, guardian_of
from cloud_api.api.errors import coded_error
from cloud_api.db.schema import people
from cloud_api.services.accounts import Role
from cloud_api.services.consent import set_consent
from cloud_api.services.errors import RosterError
from cloud_api.services.family import children_of

__all__ = ["RETURNS_PERSON", "router"]

router = APIRouter(tags=["people"])

RETURNS_PERSON = {"x-returns-person": True}
_PUBLIC = [people.c[name] for name in PersonPublic.model_fields]


def _not_found(accept_language: str | None) -> HTTPException:
    return coded_error(404, RosterError("unknown_person").code, accept_language)


@router.get(
    "/v1/me/children",
    response_model=list[ChildPublic],
    summary="A guardian's own children",
    openapi_extra=RETURNS_PERSON,
)
def mychildren_of(guardian: CurrentGuardian, engine: EngineDep) -> list[Any]:
    """The signed-in guardian's children, with the consent in force of each (no IIN)."""
    with engine.connect() as conn:
        return children_of(conn, guardian.school_id, guardian.person_id)


@router.get(
    "/v1/schools/{school_id}/people/{person_id}",
    response_model=PersonPublic,
    summary="One person of a school",
    responses={403: {"description": "No role in this school"}, 404: {"description": "No such person, or not yours"}},
    openapi_extra=RETURNS_PERSON,
)
def school_person(
    school_id: str,
    person_id: UUID,
    principal: CurrentAccount,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Any:
    """A person: for school_admin and canteen_staff of the school, and for a guardian their own child only."""
    staff = principal.has(Role.SCHOOL_ADMIN, school_id) or principal.has(Role.CANTEEN_STAFF, school_id)
    with engine.connect() as conn:
        if staff:
            row = conn.execute(
                select(*_PUBLIC).where(people.c.school_id == school_id, people.c.id == person_id)
            ).first()
            if row is None:
                raise _not_found(accept_language)
            return PersonPublic(**row._mapping)
        school, guardian_id, _ = guardian_of(principal, accept_language)
        children = children_of(conn, school, guardian_id, person_id) if school == school_id else []
    if not children:
        raise _not_found(accept_language)  # another family's child: as if there were none
    return PersonPublic(**children[0].model_dump(exclude={"consent"}))


@router.post(
    "/v1/me/children/{child_id}/consent",
    response_model=ChildPublic,
    summary="Give or withdraw consent to attendance tracking",
    responses={404: {"description": "Not your child"}},
    openapi_extra=RETURNS_PERSON,
)
def my_child_consent(
    child_id: UUID,
    body: ConsentIn,
    guardian: CurrentGuardian,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Any:
    """Record the guardian's consent (Order No. 456 §33-1.1) for their own child; audited."""
    school_id, guardian_id, principal = guardian
    try:
        with engine.begin() as conn:
            set_consent(conn, school_id, child_id, guardian_id, body.given, actor=principal.actor)
            children = children_of(conn, school_id, guardian_id, child_id)
    except RosterError:
        raise _not_found(accept_language) from None  # not the guardian: as if there were no such child
    if not children:
        raise _not_found(accept_language)
    return children[0]
