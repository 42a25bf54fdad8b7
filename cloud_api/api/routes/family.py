"""What a guardian sets for their own child in the canteen, and the child's prepaid balance.

    PUT /v1/me/children/{child_id}/allergen-bans  forbid allergens (§33-1.7); the canteen enforces it
    PUT /v1/me/children/{child_id}/daily-limit    the most paid meals may cost in a day (null: none)
    GET /v1/me/children/{child_id}/balance        the balance, the limit and the newest entries

Each is marked ``RETURNS_PERSON``: a test checks that another family's child is a 404, as if it
did not exist. Changes are audited and reach the gateway with the next roster version.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from cloud_api.api.deps import AcceptLanguage, CurrentGuardian, EngineDep
from cloud_api.api.errors import coded_error
from cloud_api.api.routes.people import RETURNS_PERSON
from cloud_api.canteen_models import BalancePublic, BansIn, BansPublic, LedgerEntry, LimitIn
from cloud_api.services import menus, prepaid
from cloud_api.services.consent import require_guardian
from cloud_api.services.errors import RosterError
from shared.roster_contract import Allergen

__all__ = ["router"]

router = APIRouter(tags=["family"])
_NOT_YOURS = {404: {"description": "Not your child"}}


@router.put(
    "/v1/me/children/{child_id}/allergen-bans",
    response_model=BansPublic,
    summary="Forbid allergens",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def put_bans(
    child_id: UUID, body: BansIn, guardian: CurrentGuardian, engine: EngineDep, accept_language: AcceptLanguage = None
) -> BansPublic:
    """The allergens the child may not be served; the canteen's terminal refuses a set meal that holds one."""
    try:
        with engine.begin() as conn:
            menus.set_allergen_bans(
                conn, guardian.school_id, child_id, guardian.person_id, body.allergens, actor=guardian.principal.actor
            )
            bans = menus.bans_of(conn, guardian.school_id, [child_id]).get(child_id, [])
    except RosterError:
        raise coded_error(404, "unknown_person", accept_language) from None
    return BansPublic(child_id=child_id, allergens=[Allergen(a) for a in bans])


@router.put(
    "/v1/me/children/{child_id}/daily-limit",
    response_model=BalancePublic,
    summary="Set the daily limit",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def put_daily_limit(
    child_id: UUID, body: LimitIn, guardian: CurrentGuardian, engine: EngineDep, accept_language: AcceptLanguage = None
) -> Any:
    """The most the child's paid meals may cost in one day; the gateway refuses a meal over it, offline too."""
    try:
        with engine.begin() as conn:
            prepaid.set_daily_limit(
                conn, guardian.school_id, child_id, guardian.person_id, body.limit_tiyn, actor=guardian.principal.actor
            )
            return _balance(conn, guardian.school_id, child_id)
    except RosterError:
        raise coded_error(404, "unknown_person", accept_language) from None


@router.get(
    "/v1/me/children/{child_id}/balance",
    response_model=BalancePublic,
    summary="The prepaid balance",
    responses=_NOT_YOURS,
    openapi_extra=RETURNS_PERSON,
)
def get_balance(
    child_id: UUID, guardian: CurrentGuardian, engine: EngineDep, accept_language: AcceptLanguage = None
) -> Any:
    """Balance, daily limit and the newest entries: top-ups in, each meal's cost out."""
    try:
        with engine.connect() as conn:
            require_guardian(conn, guardian.school_id, guardian.person_id, child_id)
            return _balance(conn, guardian.school_id, child_id, with_entries=True)
    except RosterError:
        raise coded_error(404, "unknown_person", accept_language) from None


def _balance(conn: Any, school_id: str, child_id: UUID, *, with_entries: bool = False) -> BalancePublic:
    account = prepaid.accounts_of(conn, school_id, [child_id]).get(child_id, prepaid.Account(0, 0))
    entries = prepaid.statement(conn, school_id, child_id) if with_entries else []
    return BalancePublic(
        child_id=child_id,
        balance_tiyn=account.balance_tiyn,
        credited_tiyn=account.credited_tiyn,
        charged_tiyn=account.charged_tiyn,
        daily_limit_tiyn=prepaid.daily_limits_of(conn, school_id, [child_id]).get(child_id),
        entries=[LedgerEntry(**e) for e in entries],
    )
