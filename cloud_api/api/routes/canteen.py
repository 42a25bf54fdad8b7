"""The canteen's data over HTTP: meal rules, dishes and photos, the day's menu (§33-1.3), paid meals.

    PUT  /v1/schools/{school_id}/meal-rules                  school_admin: periods, free periods, prepaid
    GET  /v1/schools/{school_id}/meal-rules                  anyone of the school
    POST /v1/schools/{school_id}/dishes                      school_admin: a new dish
    PUT  /v1/schools/{school_id}/dishes/{dish_id}            school_admin: change names, price, allergens
    PUT  /v1/schools/{school_id}/dishes/{dish_id}/photo      school_admin: the photo (JPEG, PNG, WebP; 2 MiB)
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

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import uuid_utils
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from sqlalchemy import Connection

from cloud_api.api.deps import AcceptLanguage, CurrentAccount, EngineDep, SchoolAdmin, SchoolMember, read_limited
from cloud_api.api.errors import coded_error
from cloud_api.api.routes.photos import PHOTO_PATH
from cloud_api.canteen_models import BalancePublic, CreditIn, DishIn, DishVersion, MenuEntry, PinIn, SetMealIn
from cloud_api.services import canteen_pins, menus, photos, prepaid
from cloud_api.services.accounts import AccountError, Role
from cloud_api.services.errors import RosterError
from cloud_api.services.signatures import Refused
from shared.contract import Identifier
from shared.localtime import local_date
from shared.roster_contract import Dish, MealRules, SetMeal

__all__ = ["refusal", "router"]

router = APIRouter(tags=["canteen"])
MAX_MENU_DAYS = 31

# A refusal's HTTP status by its code; anything else a service refuses is a conflict with what is stored.
_STATUS = {
    "unknown_dish": 404,
    "unknown_person": 404,
    "no_meal_rules": 409,
    "unknown_period": 422,
    "bad_amount": 422,
    "photo_too_large": 413,
    "photo_type": 415,
    "bad_pin": 422,
    "starts_like_a_formula": 422,
}


def refusal(error: RosterError, accept_language: str | None) -> HTTPException:
    """The HTTP answer to a refused change: its code, translated."""
    return coded_error(_STATUS.get(error.code, 409), error.code, accept_language)


@router.put("/v1/schools/{school_id}/meal-rules", response_model=MealRules, summary="Set the meal rules")
def put_meal_rules(school_id: str, rules: MealRules, principal: SchoolAdmin, engine: EngineDep) -> MealRules:
    """Meal periods in local time, the periods in which free and discounted meals apply, and whether
    paid meals draw on a prepaid balance."""
    with engine.begin() as conn:
        menus.set_meal_rules(conn, school_id, rules, actor=principal.actor)
    return rules


@router.get("/v1/schools/{school_id}/meal-rules", response_model=MealRules, summary="The meal rules in force")
def get_meal_rules(school_id: str, _: SchoolMember, engine: EngineDep, accept_language: AcceptLanguage = None) -> Any:
    """The rules in force; 404 before the school has set any."""
    with engine.connect() as conn:
        found = menus.current_meal_rules(conn, school_id)
    if found is None:
        raise coded_error(404, "no_meal_rules", accept_language)
    return found[0]


@router.post("/v1/schools/{school_id}/dishes", response_model=Dish, status_code=201, summary="Add a dish")
def post_dish(
    school_id: str, body: DishIn, principal: SchoolAdmin, engine: EngineDep, accept_language: AcceptLanguage = None
) -> Dish:
    """A new dish with its names, price and allergens (the 14 EU groups)."""
    dish = Dish(id=UUID(str(uuid_utils.uuid7())), **body.model_dump())
    try:
        with engine.begin() as conn:
            menus.upsert_dish(conn, school_id, dish, actor=principal.actor)
    except RosterError as error:
        raise refusal(error, accept_language) from None
    return dish


@router.put("/v1/schools/{school_id}/dishes/{dish_id}", response_model=Dish, summary="Change a dish")
def put_dish(
    school_id: str,
    dish_id: UUID,
    body: DishIn,
    principal: SchoolAdmin,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Dish:
    """New names, price or allergens; the photo stays, and the old version stays readable."""
    try:
        with engine.begin() as conn:
            current = _dish(conn, school_id, dish_id, accept_language)
            dish = Dish(id=dish_id, photo_url=current.photo_url, **body.model_dump())
            menus.upsert_dish(conn, school_id, dish, actor=principal.actor)
    except RosterError as error:
        raise refusal(error, accept_language) from None
    return dish


@router.put(
    "/v1/schools/{school_id}/dishes/{dish_id}/photo",
    response_model=Dish,
    summary="Upload a dish's photo",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png")},
        }
    },
)
async def put_dish_photo(
    school_id: str,
    dish_id: UUID,
    request: Request,
    principal: SchoolAdmin,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Dish:
    """The photo as the request body (JPEG, PNG or WebP, at most 2 MiB, recognised by its bytes)."""
    try:
        data = await read_limited(request, photos.MAX_PHOTO_BYTES)
    except Refused:
        raise coded_error(413, "photo_too_large", accept_language) from None
    try:
        with engine.begin() as conn:
            current = _dish(conn, school_id, dish_id, accept_language)
            digest = photos.store_photo(conn, school_id, data, photos.PhotoKind.DISH, actor=principal.actor)
            dish = current.model_copy(update={"photo_url": PHOTO_PATH.format(digest=digest)})
            menus.upsert_dish(conn, school_id, dish, actor=principal.actor)
    except RosterError as error:
        raise refusal(error, accept_language) from None
    return dish


@router.get("/v1/schools/{school_id}/dishes", response_model=list[Dish], summary="The school's dishes")
def get_dishes(school_id: str, _: SchoolMember, engine: EngineDep) -> list[Dish]:
    """Every dish as it is now."""
    with engine.connect() as conn:
        return sorted(menus.current_dishes(conn, school_id), key=lambda d: sorted(d.names.values()))


@router.get(
    "/v1/schools/{school_id}/dishes/{dish_id}/history", response_model=list[DishVersion], summary="A dish's history"
)
def get_dish_history(school_id: str, dish_id: UUID, _: SchoolAdmin, engine: EngineDep) -> list[Any]:
    """Every version of the dish, oldest first: what it cost when, and who changed it."""
    with engine.connect() as conn:
        return menus.dish_history(conn, school_id, dish_id)


@router.put("/v1/schools/{school_id}/menu/{day}/{period}", response_model=MenuEntry, summary="Set the day's set meal")
def put_set_meal(
    school_id: str,
    day: date,
    period: Annotated[Identifier, Path()],
    body: SetMealIn,
    principal: SchoolAdmin,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> MenuEntry:
    """The set meal of one period of one day; its price is the dishes' sum unless given."""
    try:
        with engine.begin() as conn:
            rules = menus.current_meal_rules(conn, school_id)
            if rules is None:
                raise RosterError("no_meal_rules")
            if period not in {p.name for p in rules[0].periods}:
                raise RosterError("unknown_period")
            dishes = {d.id: d for d in menus.current_dishes(conn, school_id)}
            if any(d not in dishes for d in body.dish_ids):
                raise RosterError("unknown_dish")
            price = body.price_tiyn if body.price_tiyn is not None else sum(dishes[d].price_tiyn for d in body.dish_ids)
            meal = SetMeal(day=day, period=period, dish_ids=body.dish_ids, price_tiyn=price)
            menus.set_day_menu(conn, school_id, meal, actor=principal.actor)
    except RosterError as error:
        raise refusal(error, accept_language) from None
    return MenuEntry(day=day, period=period, price_tiyn=price, dishes=[dishes[d] for d in body.dish_ids])


@router.get("/v1/schools/{school_id}/menu", response_model=list[MenuEntry], summary="The menu, day by day")
def get_menu(
    school_id: str,
    _: SchoolMember,
    engine: EngineDep,
    first: Annotated[date | None, Query(alias="from", description="First day; today if left out.")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_MENU_DAYS)] = 7,
) -> list[MenuEntry]:
    """The set meals of ``days`` days from ``from``, each with its dishes, prices, allergens and photos."""
    start = first or local_date(datetime.now(UTC))
    with engine.connect() as conn:
        dishes = {d.id: d for d in menus.current_dishes(conn, school_id)}
        meals = [m for m in menus.menu_from(conn, school_id, start) if m.day < start + timedelta(days=days)]
    return [
        MenuEntry(day=m.day, period=m.period, price_tiyn=m.price_tiyn, dishes=[dishes[d] for d in m.dish_ids])
        for m in sorted(meals, key=lambda m: (m.day, m.period))
    ]


@router.post(
    "/v1/schools/{school_id}/people/{person_id}/credits",
    response_model=BalancePublic,
    status_code=201,
    summary="Record a top-up or a correction",
)
def post_credit(
    school_id: str,
    person_id: UUID,
    body: Annotated[CreditIn, Body()],
    principal: SchoolAdmin,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> BalancePublic:
    """Money the school received for a student (payment itself is out of scope), or a correction."""
    try:
        with engine.begin() as conn:
            kind = prepaid.EntryKind(body.kind)
            account = prepaid.record_credit(
                conn, school_id, person_id, body.amount_tiyn, kind, actor=principal.actor, note=body.note
            )
            limit = prepaid.daily_limits_of(conn, school_id, [person_id]).get(person_id)
    except RosterError as error:
        raise refusal(error, accept_language) from None
    return BalancePublic(
        child_id=person_id,
        balance_tiyn=account.balance_tiyn,
        credited_tiyn=account.credited_tiyn,
        charged_tiyn=account.charged_tiyn,
        daily_limit_tiyn=limit,
    )


@router.put(
    "/v1/schools/{school_id}/people/{person_id}/canteen-pin", status_code=204, summary="Set a staff member's PIN"
)
def put_staff_pin(
    school_id: str,
    person_id: UUID,
    body: PinIn,
    principal: SchoolAdmin,
    engine: EngineDep,
    accept_language: AcceptLanguage = None,
) -> Response:
    """The PIN a canteen staff member signs manual entries with at the canteen screen (offline too)."""
    _set_pin(engine, school_id, person_id, body.pin, principal.actor, accept_language)
    return Response(status_code=204)


@router.put("/v1/me/canteen-pin", status_code=204, summary="Set one's own canteen PIN")
def put_my_pin(
    body: PinIn, principal: CurrentAccount, engine: EngineDep, accept_language: AcceptLanguage = None
) -> Response:
    """A canteen staff member chooses their own PIN; it reaches the gateway with the next roster version."""
    account = principal.account
    if account is None or account.person_id is None or account.school_id is None:
        raise coded_error(403, AccountError("not_allowed").code, accept_language)
    if not principal.has(Role.CANTEEN_STAFF, account.school_id):
        raise coded_error(403, AccountError("not_allowed").code, accept_language)
    _set_pin(engine, account.school_id, account.person_id, body.pin, principal.actor, accept_language)
    return Response(status_code=204)


def _set_pin(
    engine: EngineDep, school_id: str, person_id: UUID, pin: str | None, actor: str, accept_language: str | None
) -> None:
    try:
        with engine.begin() as conn:
            canteen_pins.set_canteen_pin(conn, school_id, person_id, pin, actor=actor)
    except RosterError as error:
        raise refusal(error, accept_language) from None


def _dish(conn: Connection, school_id: str, dish_id: UUID, accept_language: str | None) -> Dish:
    found = menus.dish(conn, school_id, dish_id)
    if found is None:
        raise coded_error(404, "unknown_dish", accept_language)
    return found
