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

from fastapi import APIRouter

from cloud_api.api.deps import CurrentAccount, CurrentGuardian, EngineDep, SchoolPath, guardian_of
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.accounts import ChildPublic, ConsentIn, PersonPublic
from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import Role
from cloud_api.services.consent import set_consent
from cloud_api.services.family import children_of
from cloud_api.services.people import find_person

__all__ = ["RETURNS_PERSON", "router"]

router = APIRouter(tags=["people"])

RETURNS_PERSON = {"x-returns-person": True}


@router.get(
    "/v1/me/children",
    response_model=list[ChildPublic],
    summary="A guardian's own children",
    responses=refusals("not_a_guardian"),
    openapi_extra=RETURNS_PERSON,
)
def my_children(guardian: CurrentGuardian, engine: EngineDep) -> list[Any]:
    """The signed-in guardian's children, with the consent in force of each (no IIN)."""
    with engine.connect() as conn:
        return children_of(conn, guardian.school_id, guardian.person_id)


@router.get(
    "/v1/schools/{school_id}/people/{person_id}",
    response_model=PersonPublic,
    summary="One person of a school",
    responses=refusals("not_a_guardian", "unknown_person"),
    openapi_extra=RETURNS_PERSON,
)
def school_person(school_id: SchoolPath, person_id: UUID, principal: CurrentAccount, engine: EngineDep) -> Any:
    """A person: for school_admin and canteen_staff of the school, and for a guardian their own child only."""
    staff = principal.has(Role.SCHOOL_ADMIN, school_id) or principal.has(Role.CANTEEN_STAFF, school_id)
    with engine.connect() as conn:
        if staff:
            row = find_person(conn, school_id, person_id)
            if row is None:
                raise DomainError("unknown_person")
            return PersonPublic.model_validate(row)
        school, guardian_id, _ = guardian_of(principal)
        children = children_of(conn, school, guardian_id, person_id) if school == school_id else []
    if not children:
        raise DomainError("unknown_person")  # another family's child: as if there were none
    return PersonPublic(**children[0].model_dump(exclude={"consent"}))


@router.post(
    "/v1/me/children/{child_id}/consent",
    response_model=ChildPublic,
    summary="Give or withdraw consent to attendance tracking",
    responses=refusals("not_a_guardian", "unknown_person"),
    openapi_extra=RETURNS_PERSON,
)
def my_child_consent(child_id: UUID, body: ConsentIn, guardian: CurrentGuardian, engine: EngineDep) -> Any:
    """Record the guardian's consent (Order No. 456 §33-1.1) for their own child; audited."""
    school_id, guardian_id, principal = guardian
    with engine.begin() as conn:
        set_consent(conn, school_id, child_id, guardian_id, body.given, actor=principal.actor, method=body.method)
        children = children_of(conn, school_id, guardian_id, child_id)
    if not children:
        raise DomainError("unknown_person")
    return children[0]
