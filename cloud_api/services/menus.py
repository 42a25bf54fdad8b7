"""The canteen's data (§33-1.3, §33-1.7): meal rules, dishes, the day's set meals, allergen and kind-of-dish bans.

Every change is a new row (the newest one is in force) and takes the school's next roster version,
so the history stays and gateways receive the change in their next delta. A ban is personal data:
its changes go to the audit journal. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.core.formulas import starts_like_a_formula
from cloud_api.db.schema import allergen_bans, dish_versions, meal_rules, set_meals
from cloud_api.reports.rollups import price_unpriced_meals
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.consent import require_guardian
from cloud_api.services.history import in_force, newest_rows
from cloud_api.services.photos import PHOTO_PATH, PhotoKind, Reencoded, store_photo
from cloud_api.services.roster_versions import next_month_version, next_version
from shared.roster_contract import Allergen, Dish, DishCategory, MealPeriod, MealRules, SetMeal

__all__ = [
    "MenuDay",
    "bans_of",
    "category_bans_of",
    "change_dish",
    "current_dishes",
    "current_meal_rules",
    "dish_history",
    "dish_of",
    "menu_days",
    "menu_from",
    "period_order",
    "periods_by_time",
    "plan_set_meal",
    "refused_dishes",
    "required_dish",
    "set_allergen_bans",
    "set_day_menu",
    "set_dish_photo",
    "set_food_bans",
    "set_meal_rules",
    "upsert_dish",
]


class MenuDay(NamedTuple):
    """A set meal with its dishes spelled out, as parents and staff read the menu."""

    meal: SetMeal
    dishes: list[Dish]


def _stamp(conn: Connection, school_id: str, actor: str) -> dict[str, Any]:
    return {"school_id": school_id, "version": next_version(conn, school_id), "at": datetime.now(UTC), "actor": actor}


def set_meal_rules(conn: Connection, school_id: str, rules: MealRules, *, actor: str) -> None:
    """Put new meal rules in force (the contract model has checked them), their periods by time of day."""
    in_order = rules.model_copy(update={"periods": periods_by_time(rules)})
    before = current_meal_rules(conn, school_id)
    stamp = _stamp(conn, school_id, actor)
    after = in_order.model_dump(mode="json")
    conn.execute(insert(meal_rules).values(rules=after, **stamp))
    # Which periods are free and whether meals are prepaid is money: the journal keeps each change.
    was = None if before is None else before[0].model_dump(mode="json")
    entry = AuditEntry("create" if was is None else "update", "meal_rules", school_id, was, after)
    write_audit(conn, school_id, actor, stamp["at"], [entry])


def current_meal_rules(conn: Connection, school_id: str) -> tuple[MealRules, int] | None:
    """The rules in force and the version that set them."""
    row = conn.execute(
        select(meal_rules.c.rules, meal_rules.c.version)
        .where(meal_rules.c.school_id == school_id)
        .order_by(meal_rules.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (MealRules.model_validate(row.rules), int(row.version))


def periods_by_time(rules: MealRules) -> list[MealPeriod]:
    """The periods in the order of the school day (by start), never by name."""
    return sorted(rules.periods, key=lambda p: (p.starts, p.ends, p.name))


def period_order(rules: MealRules | None) -> dict[str, int]:
    """Each period's place in the day (for sorting); a period the rules no longer have comes last."""
    return {} if rules is None else {p.name: i for i, p in enumerate(periods_by_time(rules))}


def upsert_dish(conn: Connection, school_id: str, dish: Dish, *, actor: str) -> None:
    """Add a dish or change it (price, names, allergens, photo); the old version stays readable."""
    if any(starts_like_a_formula(name) for name in dish.names.values()):
        raise DomainError("starts_like_a_formula")  # it would run in the ministry's spreadsheet
    before = dish_of(conn, school_id, dish.id)
    stamp = _stamp(conn, school_id, actor)
    # A price is money: a new dish or a new price goes to the audit journal (a photo alone does not).
    if before is None or before.price_tiyn != dish.price_tiyn:
        was = None if before is None else {"price_tiyn": before.price_tiyn}
        entry = AuditEntry("create" if before is None else "update", "dish", str(dish.id), was, _audited(dish))
        write_audit(conn, school_id, actor, stamp["at"], [entry])
    conn.execute(
        insert(dish_versions).values(
            dish_id=dish.id,
            names=dish.names,
            price_tiyn=dish.price_tiyn,
            allergens=[a.value for a in dish.allergens],
            photo_url=dish.photo_url,
            category=dish.category.value,
            **stamp,
        )
    )


def _audited(dish: Dish) -> dict[str, Any]:
    return {"names": dict(dish.names), "price_tiyn": dish.price_tiyn, "category": dish.category.value}


def current_dishes(conn: Connection, school_id: str, since: int = 0) -> list[Dish]:
    """Every dish as it is now (only those changed after version ``since``)."""
    query = newest_rows(dish_versions, school_id, "dish_id").where(dish_versions.c.version > since)
    return [_dish(row) for row in conn.execute(query)]


def dish_of(conn: Connection, school_id: str, dish_id: UUID) -> Dish | None:
    """One dish as it is now, or None."""
    row = conn.execute(
        select(dish_versions)
        .where(dish_versions.c.school_id == school_id, dish_versions.c.dish_id == dish_id)
        .order_by(dish_versions.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _dish(row)


def required_dish(conn: Connection, school_id: str, dish_id: UUID) -> Dish:
    """One dish as it is now; ``unknown_dish`` when the school has none of that id."""
    found = dish_of(conn, school_id, dish_id)
    if found is None:
        raise DomainError("unknown_dish")
    return found


def change_dish(
    conn: Connection,
    school_id: str,
    dish_id: UUID,
    *,
    names: dict[str, str],
    price_tiyn: int,
    allergens: list[Allergen],
    category: DishCategory | None = None,
    actor: str,
) -> Dish:
    """New names, price, allergens or category for a dish (its category stays when None); its photo
    stays, and the old version stays readable."""
    current = required_dish(conn, school_id, dish_id)
    changed = Dish(
        id=dish_id,
        names=names,
        price_tiyn=price_tiyn,
        allergens=allergens,
        photo_url=current.photo_url,
        category=category or current.category,
    )
    upsert_dish(conn, school_id, changed, actor=actor)
    return changed


def set_dish_photo(conn: Connection, school_id: str, dish_id: UUID, image: Reencoded, *, actor: str) -> Dish:
    """Give a dish its photo (made by :func:`~cloud_api.services.photos.reencode_photo`); the dish as it is now."""
    current = required_dish(conn, school_id, dish_id)
    digest = store_photo(conn, school_id, image, PhotoKind.DISH, actor=actor)
    changed = current.model_copy(update={"photo_url": PHOTO_PATH.format(digest=digest)})
    upsert_dish(conn, school_id, changed, actor=actor)
    return changed


def dish_history(conn: Connection, school_id: str, dish_id: UUID) -> list[dict[str, Any]]:
    """Every version of one dish, oldest first: what it cost when."""
    rows = conn.execute(
        select(dish_versions)
        .where(dish_versions.c.school_id == school_id, dish_versions.c.dish_id == dish_id)
        .order_by(dish_versions.c.id)
    )
    return [
        {
            "at": r.at,
            "actor": r.actor,
            "price_tiyn": int(r.price_tiyn),
            "names": r.names,
            "category": r.category or DishCategory.MAIN.value,
        }
        for r in rows
    ]


def _dish(row: Any) -> Dish:
    return Dish(
        id=row.dish_id,
        names=row.names,
        price_tiyn=int(row.price_tiyn),
        allergens=row.allergens,
        photo_url=row.photo_url,
        category=row.category or DishCategory.MAIN,  # stored before categories: a main dish
    )


def set_day_menu(conn: Connection, school_id: str, menu: SetMeal, *, actor: str) -> None:
    """Set (or change) the set meal of one day and period; its dishes must exist. Audited: a price is money.

    A meal keeps the price its set meal had when it was served (:mod:`cloud_api.services.meal_prices`).
    """
    # The month's row lock first, before reading whether the day has a menu and before pricing its
    # meals: the ingest's rollups take the same lock before they read the menu's prices, so a meal
    # rolled up and its day's first menu written at once serialize instead of both missing the price.
    next_month_version(conn, school_id, menu.day.strftime("%Y-%m"))  # the state's share of that day moves
    known = {d.id for d in current_dishes(conn, school_id)}
    if any(d not in known for d in menu.dish_ids):
        raise DomainError("unknown_dish")
    previous = conn.execute(
        select(set_meals.c.dish_ids, set_meals.c.price_tiyn)
        .where(set_meals.c.school_id == school_id, set_meals.c.day == menu.day, set_meals.c.period == menu.period)
        .order_by(set_meals.c.id.desc())
        .limit(1)
    ).first()
    if previous is None:  # meals served before the day had any menu take its first price; later changes move none
        price_unpriced_meals(conn, school_id, menu.day, menu.period, menu.price_tiyn)
    stamp = _stamp(conn, school_id, actor)
    after = {"dish_ids": [str(d) for d in menu.dish_ids], "price_tiyn": menu.price_tiyn}
    conn.execute(
        insert(set_meals).values(
            day=menu.day, period=menu.period, dish_ids=after["dish_ids"], price_tiyn=menu.price_tiyn, **stamp
        )
    )
    before = (
        None
        if previous is None
        else {"dish_ids": [str(d) for d in previous.dish_ids], "price_tiyn": int(previous.price_tiyn)}
    )
    entry = AuditEntry("create" if before is None else "update", "set_meal", f"{menu.day}/{menu.period}", before, after)
    write_audit(conn, school_id, actor, stamp["at"], [entry])


def plan_set_meal(
    conn: Connection,
    school_id: str,
    day: date,
    period: str,
    dish_ids: list[UUID],
    price_tiyn: int | None,
    *,
    actor: str,
) -> MenuDay:
    """Set the set meal of one period of one day; its price is the dishes' sum unless given.

    Refuses a period the school's meal rules do not have (``unknown_period``; before the school has
    set any rules, every period is unknown) and a dish it does not have (``unknown_dish``).
    """
    rules = current_meal_rules(conn, school_id)
    if rules is None or period not in {p.name for p in rules[0].periods}:
        raise DomainError("unknown_period")
    dishes = {d.id: d for d in current_dishes(conn, school_id)}
    if any(d not in dishes for d in dish_ids):
        raise DomainError("unknown_dish")
    price = price_tiyn if price_tiyn is not None else sum(dishes[d].price_tiyn for d in dish_ids)
    meal = SetMeal(day=day, period=period, dish_ids=dish_ids, price_tiyn=price)
    set_day_menu(conn, school_id, meal, actor=actor)
    return MenuDay(meal, [dishes[d] for d in dish_ids])


def menu_days(conn: Connection, school_id: str, first_day: date, days: int) -> list[MenuDay]:
    """The set meals of ``days`` days from ``first_day``, each with its dishes, by day and period."""
    dishes = {d.id: d for d in current_dishes(conn, school_id)}
    last = first_day + timedelta(days=days)
    rules = current_meal_rules(conn, school_id)
    order = period_order(rules[0] if rules else None)
    meals = sorted(
        (m for m in menu_from(conn, school_id, first_day) if m.day < last),
        key=lambda m: (m.day, order.get(m.period, len(order)), m.period),  # by the time of day, not by name
    )
    return [MenuDay(m, [dishes[d] for d in m.dish_ids if d in dishes]) for m in meals]


def menu_from(conn: Connection, school_id: str, first_day: date, since: int = 0) -> list[SetMeal]:
    """The set meals from ``first_day`` on, as they are now (only those changed after ``since``)."""
    query = newest_rows(set_meals, school_id, "day", "period").where(
        set_meals.c.day >= first_day, set_meals.c.version > since
    )
    return [
        SetMeal(day=r.day, period=r.period, dish_ids=r.dish_ids, price_tiyn=int(r.price_tiyn))
        for r in conn.execute(query)
    ]


def set_allergen_bans(
    conn: Connection, school_id: str, child_id: UUID, guardian_id: UUID, allergens: Iterable[Allergen], *, actor: str
) -> None:
    """A guardian forbids (or allows again) allergens for their child; the canteen enforces it.

    The kinds of dish forbidden stay as they are.
    """
    kinds = category_bans_of(conn, school_id, [child_id]).get(child_id, [])
    set_food_bans(conn, school_id, child_id, guardian_id, allergens, [DishCategory(k) for k in kinds], actor=actor)


def set_food_bans(
    conn: Connection,
    school_id: str,
    child_id: UUID,
    guardian_id: UUID,
    allergens: Iterable[Allergen],
    categories: Iterable[DishCategory],
    *,
    actor: str,
) -> bool:
    """A guardian forbids allergens and kinds of dish (sweets, pastry, ...) for their child; the canteen's
    terminal refuses a set meal that holds one, offline too. True when anything changed.

    One row holds both, so the child's restrictions at any moment are one row of the history; the
    change goes to the audit journal (a ban is personal data).
    """
    require_guardian(conn, school_id, guardian_id, child_id)
    after = sorted({Allergen(a).value for a in allergens})
    kinds_after = sorted({DishCategory(c).value for c in categories})
    before = bans_of(conn, school_id, [child_id]).get(child_id, [])
    kinds_before = category_bans_of(conn, school_id, [child_id]).get(child_id, [])
    if before == after and kinds_before == kinds_after:
        return False
    stamp = _stamp(conn, school_id, actor)
    conn.execute(insert(allergen_bans).values(child_id=child_id, allergens=after, categories=kinds_after, **stamp))
    was = {"allergens": before, "categories": kinds_before}
    entry = AuditEntry("update", "allergen_bans", str(child_id), was, {"allergens": after, "categories": kinds_after})
    write_audit(conn, school_id, actor, stamp["at"], [entry])
    return True


def bans_of(conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None) -> dict[UUID, list[str]]:
    """The allergen bans in force per child (all the school's children with any, or ``child_ids``)."""
    bans = in_force(conn, allergen_bans, school_id, "child_id", "allergens", child_ids)
    return {child: list(allergens) for child, allergens in bans.items()}


def category_bans_of(
    conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None
) -> dict[UUID, list[str]]:
    """The kinds of dish forbidden per child (those with any, of the school or of ``child_ids``)."""
    # A row written before kinds could be forbidden holds NULL: no kind forbidden, which in_force leaves out.
    kinds = in_force(conn, allergen_bans, school_id, "child_id", "categories", child_ids)
    return {child: list(found) for child, found in kinds.items() if found}


def refused_dishes(
    dishes: Iterable[Dish], allergens: Iterable[str], categories: Iterable[str]
) -> dict[UUID, list[str]]:
    """Which of ``dishes`` a child with these bans may not have, and why: the allergens and kind it is refused for."""
    banned, kinds = set(allergens), set(categories)
    found: dict[UUID, list[str]] = {}
    for dish in dishes:
        why = sorted({a.value for a in dish.allergens} & banned)
        if dish.category.value in kinds:
            why.append(dish.category.value)
        if why:
            found[dish.id] = why
    return found
