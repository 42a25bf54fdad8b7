"""What a guardian sets for their own child in the canteen, and the child's prepaid balance.

    PUT /v1/me/children/{child_id}/allergen-bans  forbid allergens (§33-1.7); the canteen enforces it
    PUT /v1/me/children/{child_id}/daily-limit    the most paid meals may cost in a day (null: none)
    GET /v1/me/children/{child_id}/balance        the balance, the limit and the newest entries

Each is marked ``RETURNS_PERSON``: a test checks that another family's child is a 404, as if it
did not exist. Changes are audited and reach the gateway with the next roster version.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from cloud_api.api.deps import CurrentGuardian, EngineDep
from cloud_api.api.errors import refusals
from cloud_api.api.routes.people import RETURNS_PERSON
from cloud_api.api.schemas.canteen import BalancePublic, BansIn, BansPublic, LimitIn, balance_public
from cloud_api.services import menus, prepaid
from cloud_api.services.consent import require_guardian
from shared.roster_contract import Allergen

__all__ = ["router"]

router = APIRouter(tags=["family"])
_NOT_YOURS = refusals("not_a_guardian", "unknown_person")


@router.put(
    "/v1/me/children/{child_id}/allergen-bans",
    response_model=BansPublic,
    summary="Forbid allergens",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def put_bans(child_id: UUID, body: BansIn, guardian: CurrentGuardian, engine: EngineDep) -> BansPublic:
    """The allergens the child may not be served; the canteen's terminal refuses a set meal that holds one."""
    with engine.begin() as conn:
        menus.set_allergen_bans(
            conn, guardian.school_id, child_id, guardian.person_id, body.allergens, actor=guardian.principal.actor
        )
        bans = menus.bans_of(conn, guardian.school_id, [child_id]).get(child_id, [])
    return BansPublic(child_id=child_id, allergens=[Allergen(a) for a in bans])


@router.put(
    "/v1/me/children/{child_id}/daily-limit",
    response_model=BalancePublic,
    summary="Set the daily limit",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def put_daily_limit(child_id: UUID, body: LimitIn, guardian: CurrentGuardian, engine: EngineDep) -> BalancePublic:
    """The most the child's paid meals may cost in one day; the gateway refuses a meal over it, offline too."""
    with engine.begin() as conn:
        prepaid.set_daily_limit(
            conn, guardian.school_id, child_id, guardian.person_id, body.limit_tiyn, actor=guardian.principal.actor
        )
        return balance_public(child_id, prepaid.balance_of(conn, guardian.school_id, child_id))


@router.get(
    "/v1/me/children/{child_id}/balance",
    response_model=BalancePublic,
    summary="The prepaid balance",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def get_balance(child_id: UUID, guardian: CurrentGuardian, engine: EngineDep) -> BalancePublic:
    """Balance, daily limit and the newest entries: top-ups in, each meal's cost out."""
    with engine.connect() as conn:
        require_guardian(conn, guardian.school_id, guardian.person_id, child_id)
        balance = prepaid.balance_of(conn, guardian.school_id, child_id, with_entries=True)
    return balance_public(child_id, balance)
