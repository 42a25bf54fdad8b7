"""The canteen's week at a glance, and a week copied onto another. The caller owns the transaction.

A week runs Monday to Sunday; its grid is days × periods, the periods in the order of the school
day. A set meal whose every dish holds an allergen leaves a child banned from it with nothing to
eat: the week names each such allergen with the number of the school's children banned from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection

from cloud_api.core.errors import DomainError
from cloud_api.services.menus import (
    MenuDay,
    bans_of,
    current_dishes,
    current_meal_rules,
    menu_from,
    periods_by_time,
    set_day_menu,
)
from shared.localtime import local_date
from shared.roster_contract import Allergen, Dish, DishCategory, MealPeriod, SetMeal

__all__ = ["AllergenGap", "CopyPlan", "MenuWeek", "copy_plan", "copy_week", "menu_week", "monday_of"]

WEEK = 7


def monday_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


class AllergenGap(NamedTuple):
    """A set meal's allergen that every one of its dishes holds, and how many children are banned from it."""

    allergen: Allergen
    children: int


@dataclass(frozen=True)
class MenuWeek:
    """A week's set meals by day and period, the school's dishes, and the set meals' allergen gaps."""

    monday: date
    periods: list[MealPeriod]
    dishes: list[Dish]
    cells: dict[tuple[date, str], MenuDay] = field(default_factory=dict)
    gaps: dict[tuple[date, str], list[AllergenGap]] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        """Monday to Sunday."""
        return [self.monday + timedelta(days=i) for i in range(WEEK)]


def _week_meals(conn: Connection, school_id: str, monday: date) -> list[SetMeal]:
    end = monday + timedelta(days=WEEK)
    return [m for m in menu_from(conn, school_id, monday) if m.day < end]


def allergen_gaps(dishes: list[Dish], banned: dict[str, int]) -> list[AllergenGap]:
    """The allergens every one of ``dishes`` holds (no dish free of it), with the children banned from each."""
    if not dishes:
        return []
    common = set(dishes[0].allergens).intersection(*(set(d.allergens) for d in dishes[1:]))
    return [AllergenGap(a, banned.get(a.value, 0)) for a in Allergen if a in common]


def menu_week(conn: Connection, school_id: str, monday: date) -> MenuWeek:
    """The week from ``monday`` (any day is taken back to its Monday), ready for the planner's grid."""
    monday = monday_of(monday)
    rules = current_meal_rules(conn, school_id)
    periods = periods_by_time(rules[0]) if rules else []
    dishes = current_dishes(conn, school_id)
    by_id = {d.id: d for d in dishes}
    banned: dict[str, int] = {}
    for allergens in bans_of(conn, school_id).values():
        for allergen in allergens:
            banned[allergen] = banned.get(allergen, 0) + 1
    kinds = list(DishCategory)  # main dishes first, then drinks, pastry, sweets, fruit
    in_order = sorted(dishes, key=lambda d: (kinds.index(d.category), sorted(d.names.values())))
    week = MenuWeek(monday, periods, in_order)
    for meal in _week_meals(conn, school_id, monday):
        entry = MenuDay(meal, [by_id[d] for d in meal.dish_ids if d in by_id])
        week.cells[(meal.day, meal.period)] = entry
        if gaps := allergen_gaps(entry.dishes, banned):
            week.gaps[(meal.day, meal.period)] = gaps
    return week


class CopyPlan(NamedTuple):
    """What copying a week would do: set meals copied, of which some overwrite one already planned."""

    meals: list[SetMeal]
    overwritten: int


def copy_plan(conn: Connection, school_id: str, source: date, target: date) -> CopyPlan:
    """The set meals of ``source``'s week moved to ``target``'s week (periods the rules still have only)."""
    source, target = monday_of(source), monday_of(target)
    rules = current_meal_rules(conn, school_id)
    known = {p.name for p in rules[0].periods} if rules else set()
    shift = target - source
    planned = {(m.day, m.period) for m in _week_meals(conn, school_id, target)}
    meals = [
        SetMeal(day=m.day + shift, period=m.period, dish_ids=m.dish_ids, price_tiyn=m.price_tiyn)
        for m in _week_meals(conn, school_id, source)
        if m.period in known
    ]
    return CopyPlan(meals, sum((m.day, m.period) in planned for m in meals))


def copy_week(
    conn: Connection, school_id: str, source: date, target: date, *, actor: str, today: date | None = None
) -> CopyPlan:
    """Copy ``source``'s week onto ``target``'s (same weekday, period, dishes and price); what was done.

    Refuses (``day_in_past``) when a set meal would land on a day before ``today`` (in Almaty): the
    meals served that day would take its price, and a month already reported would open again.
    """
    plan = copy_plan(conn, school_id, source, target)
    first_open = today or local_date(datetime.now(UTC))
    if any(m.day < first_open for m in plan.meals):
        raise DomainError("day_in_past")
    for meal in sorted(plan.meals, key=lambda m: (m.day, m.period)):  # by day: the months' locks in one order
        set_day_menu(conn, school_id, meal, actor=actor)
    return plan
