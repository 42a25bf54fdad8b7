"""``mektep bench office``, the canteen's part: the menu planner's week for a school with ~40 dishes.

The school of :mod:`mektep.office_bench` gets meal rules of three periods, 40 dishes (each with an
allergen or two, a fifth of them with none), a planned week (a set meal of three dishes for each
day and period) and an allergen ban for one student in twenty; then the planner's page of that week
is asked :data:`ASKS` times over HTTP by the signed-in administrator:

- ``menu_week_p50_ms``, ``menu_week_p95_ms``: the week at a glance, with its allergen warnings.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import httpx
from sqlalchemy import insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import allergen_bans, people
from cloud_api.services.menu_week import monday_of
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_versions import next_version
from shared.localtime import local_date
from shared.roster_contract import Allergen, Dish, DishCategory, MealPeriod, MealRules, SetMeal

__all__ = ["bench_office_canteen"]

ASKS = 50
DISHES = 40
PERIODS = (
    ("breakfast", clock(8), clock(8, 30)),
    ("lunch", clock(12, 30), clock(13, 15)),
    ("snack", clock(15), clock(15, 20)),
)


def _fill(database_url: str, school: str) -> str:
    """Rules, dishes, this week's set meals and some bans; the Monday of the week."""
    engine = make_engine(database_url)
    monday = monday_of(local_date(datetime.now(UTC)))
    allergens = list(Allergen)
    categories = list(DishCategory)
    with engine.begin() as conn:
        periods = [MealPeriod(name=n, starts=s, ends=e) for n, s, e in PERIODS]
        set_meal_rules(conn, school, MealRules(periods=periods, free_periods=["lunch"]), actor="bench")
        dishes = [
            Dish(
                id=uuid.uuid4(),
                names={"kk": f"Тағам {n}", "ru": f"Блюдо {n}", "en": f"Dish {n}"},
                price_tiyn=10000 + 500 * n,
                allergens=[] if n % 5 == 0 else [allergens[n % 14], allergens[(n * 3) % 14]],
                category=categories[n % len(categories)],
            )
            for n in range(DISHES)
        ]
        for item in dishes:
            upsert_dish(conn, school, item, actor="bench")
        for day in range(6):
            for p, (name, _s, _e) in enumerate(PERIODS):
                chosen = [dishes[(day * 7 + p * 3 + k) % DISHES] for k in range(3)]
                meal = SetMeal(
                    day=monday + timedelta(days=day),
                    period=name,
                    dish_ids=[d.id for d in chosen],
                    price_tiyn=sum(d.price_tiyn for d in chosen),
                )
                set_day_menu(conn, school, meal, actor="bench")
        students = conn.execute(
            select(people.c.id).where(people.c.school_id == school, people.c.role == "student")
        ).scalars()
        banned = [s for n, s in enumerate(students) if n % 20 == 0]
        now = datetime.now(UTC)
        for n, child in enumerate(banned):
            conn.execute(
                insert(allergen_bans).values(
                    school_id=school,
                    child_id=child,
                    allergens=[allergens[n % 14].value],
                    version=next_version(conn, school),
                    at=now,
                    actor="bench",
                )
            )
    engine.dispose()
    return monday.isoformat()


def bench_office_canteen(client: httpx.Client, database_url: str, school: str) -> dict[str, float]:
    """Fill the school's canteen and ask the planner's week :data:`ASKS` times; its p50 and p95 in ms."""
    monday = _fill(database_url, school)
    path = f"/office/schools/{school}/canteen/menu?week={monday}"
    times = []
    for n in range(ASKS + 3):
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if (
            answer.status_code != 200
            or '<table class="week">' not in answer.text
            or '<ul class="meal">' not in answer.text
        ):
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        if n >= 3:  # the first three warm the templates
            times.append(elapsed)
    return {
        "menu_week_p50_ms": statistics.median(times),
        "menu_week_p95_ms": statistics.quantiles(times, n=20)[-1],
    }
