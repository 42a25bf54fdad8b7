"""The canteen's data over HTTP: meal rules, dishes and photos, the day's menu (§33-1.3), paid meals.

    PUT  /v1/schools/{school_id}/meal-rules                  school_admin: periods, free periods, prepaid
    GET  /v1/schools/{school_id}/meal-rules                  anyone of the school
    POST /v1/schools/{school_id}/dishes                      school_admin: a new dish
    PUT  /v1/schools/{school_id}/dishes/{dish_id}            school_admin: change names, price, allergens
    PUT  /v1/schools/{school_id}/dishes/{dish_id}/photo      school_admin: the photo (JPEG, PNG, WebP; 2 MiB) → JPEG
    GET  /v1/schools/{school_id}/dishes                      anyone of the school
    GET  /v1/schools/{school_id}/dishes/{dish_id}/history    school_admin: every price and name it had
    PUT  /v1/schools/{school_id}/menu/{day}/{period}         school_admin: the day's set meal
    GET  /v1/schools/{school_id}/menu?from=&days=            anyone of the school: set meals with dishes
    POST /v1/schools/{school_id}/people/{person_id}/credits  school_admin: a top-up or a correction
    PUT  /v1/schools/{school_id}/people/{person_id}/canteen-pin  school_admin: set or withdraw a staff PIN
    PUT  /v1/me/canteen-pin                                  canteen staff: their own PIN

Every change takes the school's next roster version, so an online gateway has it within a
minute; the history stays (append-only tables, see ``cloud_api.services.menus``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import uuid_utils
from fastapi import APIRouter, Body, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import CurrentAccount, EngineDep, SchoolAdmin, SchoolMember, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.routes.photos import UPLOAD_REFUSALS, read_photo
from cloud_api.api.schemas.canteen import (
    BalancePublic,
    CreditIn,
    DishIn,
    DishVersion,
    MenuEntry,
    PinIn,
    SchoolDay,
    SetMealIn,
    balance_public,
)
from cloud_api.core.errors import DomainError
from cloud_api.services import canteen_pins, menus, photos, prepaid
from cloud_api.services.accounts import Role
from shared.contract import Identifier
from shared.localtime import local_date
from shared.roster_contract import Dish, MealRules

__all__ = ["router"]

router = APIRouter(tags=["canteen"])
MAX_MENU_DAYS = 31
_PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in photos.CONTENT_TYPES},
    }
}


@router.put("/v1/schools/{school_id}/meal-rules", response_model=MealRules, summary="Set the meal rules")
def put_meal_rules(school_id: SchoolPath, rules: MealRules, principal: SchoolAdmin, engine: EngineDep) -> MealRules:
    """Meal periods in local time, the periods in which free and discounted meals apply, and whether
    paid meals draw on a prepaid balance."""
    with engine.begin() as conn:
        menus.set_meal_rules(conn, school_id, rules, actor=principal.actor)
    return rules


@router.get(
    "/v1/schools/{school_id}/meal-rules",
    response_model=MealRules,
    summary="The meal rules in force",
    responses=refusals("no_meal_rules"),
)
def get_meal_rules(school_id: SchoolPath, _: SchoolMember, engine: EngineDep) -> Any:
    """The rules in force; 404 ``no_meal_rules`` before the school has set any."""
    with engine.connect() as conn:
        found = menus.current_meal_rules(conn, school_id)
    if found is None:
        raise DomainError("no_meal_rules")
    return found[0]


@router.post(
    "/v1/schools/{school_id}/dishes",
    response_model=Dish,
    status_code=201,
    summary="Add a dish",
    responses=refusals("starts_like_a_formula"),
)
def post_dish(school_id: SchoolPath, body: DishIn, principal: SchoolAdmin, engine: EngineDep) -> Dish:
    """A new dish with its names, price and allergens (the 14 EU groups)."""
    dish = Dish(id=UUID(str(uuid_utils.uuid7())), **body.model_dump())
    with engine.begin() as conn:
        menus.upsert_dish(conn, school_id, dish, actor=principal.actor)
    return dish


@router.put(
    "/v1/schools/{school_id}/dishes/{dish_id}",
    response_model=Dish,
    summary="Change a dish",
    responses=refusals("unknown_dish", "starts_like_a_formula"),
)
def put_dish(school_id: SchoolPath, dish_id: UUID, body: DishIn, principal: SchoolAdmin, engine: EngineDep) -> Dish:
    """New names, price or allergens; the photo stays, and the old version stays readable."""
    with engine.begin() as conn:
        return menus.change_dish(conn, school_id, dish_id, **body.model_dump(), actor=principal.actor)


@router.put(
    "/v1/schools/{school_id}/dishes/{dish_id}/photo",
    response_model=Dish,
    summary="Upload a dish's photo",
    openapi_extra=_PHOTO_BODY,
    responses=refusals("unknown_dish", *UPLOAD_REFUSALS, "starts_like_a_formula"),
)
async def put_dish_photo(
    school_id: SchoolPath, dish_id: UUID, request: Request, principal: SchoolAdmin, engine: EngineDep
) -> Dish:
    """The photo as the request body (JPEG, PNG or WebP, at most 2 MiB and 25 megapixels); kept and
    served as a JPEG of at most 1600 px a side, without EXIF or any other metadata."""
    image = await read_photo(request)
    return await run_in_threadpool(_set_dish_photo, engine, school_id, dish_id, image, principal.actor)


def _set_dish_photo(engine: EngineDep, school_id: str, dish_id: UUID, image: photos.Reencoded, actor: str) -> Dish:
    with engine.begin() as conn:
        return menus.set_dish_photo(conn, school_id, dish_id, image, actor=actor)


@router.get("/v1/schools/{school_id}/dishes", response_model=list[Dish], summary="The school's dishes")
def get_dishes(school_id: SchoolPath, _: SchoolMember, engine: EngineDep) -> list[Dish]:
    """Every dish as it is now."""
    with engine.connect() as conn:
        return sorted(menus.current_dishes(conn, school_id), key=lambda d: sorted(d.names.values()))


@router.get(
    "/v1/schools/{school_id}/dishes/{dish_id}/history", response_model=list[DishVersion], summary="A dish's history"
)
def get_dish_history(school_id: SchoolPath, dish_id: UUID, _: SchoolAdmin, engine: EngineDep) -> list[Any]:
    """Every version of the dish, oldest first: what it cost when, and who changed it."""
    with engine.connect() as conn:
        return menus.dish_history(conn, school_id, dish_id)


@router.put(
    "/v1/schools/{school_id}/menu/{day}/{period}",
    response_model=MenuEntry,
    summary="Set the day's set meal",
    responses=refusals("unknown_period", "unknown_dish"),
)
def put_set_meal(
    school_id: SchoolPath,
    day: SchoolDay,
    period: Annotated[Identifier, Path()],
    body: SetMealIn,
    principal: SchoolAdmin,
    engine: EngineDep,
) -> MenuEntry:
    """The set meal of one period of one day; its price is the dishes' sum unless given."""
    with engine.begin() as conn:
        planned = menus.plan_set_meal(
            conn, school_id, day, period, body.dish_ids, body.price_tiyn, actor=principal.actor
        )
    return MenuEntry.of(planned)


@router.get("/v1/schools/{school_id}/menu", response_model=list[MenuEntry], summary="The menu, day by day")
def get_menu(
    school_id: SchoolPath,
    _: SchoolMember,
    engine: EngineDep,
    first: Annotated[SchoolDay | None, Query(alias="from", description="First day; today if left out.")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_MENU_DAYS)] = 7,
) -> list[MenuEntry]:
    """The set meals of ``days`` days from ``from``, each with its dishes, prices, allergens and photos."""
    start = first or local_date(datetime.now(UTC))
    with engine.connect() as conn:
        return [MenuEntry.of(entry) for entry in menus.menu_days(conn, school_id, start, days)]


@router.post(
    "/v1/schools/{school_id}/people/{person_id}/credits",
    response_model=BalancePublic,
    status_code=201,
    summary="Record a top-up or a correction",
    responses=refusals("unknown_person", "bad_amount"),
)
def post_credit(
    school_id: SchoolPath,
    person_id: UUID,
    body: Annotated[CreditIn, Body()],
    principal: SchoolAdmin,
    engine: EngineDep,
) -> BalancePublic:
    """Money the school received for a student (payment itself is out of scope), or a correction."""
    with engine.begin() as conn:
        prepaid.record_credit(
            conn,
            school_id,
            person_id,
            body.amount_tiyn,
            prepaid.EntryKind(body.kind),
            actor=principal.actor,
            note=body.note,
        )
        return balance_public(person_id, prepaid.balance_of(conn, school_id, person_id))


@router.put(
    "/v1/schools/{school_id}/people/{person_id}/canteen-pin",
    status_code=204,
    summary="Set a staff member's PIN",
    responses=refusals("unknown_person", "bad_pin"),
)
def put_staff_pin(
    school_id: SchoolPath, person_id: UUID, body: PinIn, principal: SchoolAdmin, engine: EngineDep
) -> Response:
    """The PIN a canteen staff member signs manual entries with at the canteen screen (offline too)."""
    with engine.begin() as conn:
        canteen_pins.set_canteen_pin(conn, school_id, person_id, body.pin, actor=principal.actor)
    return Response(status_code=204)


@router.put(
    "/v1/me/canteen-pin",
    status_code=204,
    summary="Set one's own canteen PIN",
    responses=refusals("not_allowed", "unknown_person", "bad_pin"),
)
def put_my_pin(body: PinIn, principal: CurrentAccount, engine: EngineDep) -> Response:
    """A canteen staff member chooses their own PIN; it reaches the gateway with the next roster version."""
    account = principal.account
    if account is None or account.person_id is None or account.school_id is None:
        raise DomainError("not_allowed")
    if not principal.has(Role.CANTEEN_STAFF, account.school_id):
        raise DomainError("not_allowed")
    with engine.begin() as conn:
        canteen_pins.set_canteen_pin(conn, account.school_id, account.person_id, body.pin, actor=principal.actor)
    return Response(status_code=204)
