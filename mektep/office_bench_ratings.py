"""The office's meal ratings page for a big school, for ``mektep bench office``.

The school of the office bench gets three meal periods, forty dishes and each working day of last
month a set meal of three dishes a period, and a year of ratings up to last month: each working day
a fifth of its students rate one of the day's meals (one in ten with a comment, one in five a pupil
rating their own), some 13,000 a month and 160,000 a year. The figures: the ratings page of last
month (averages, counts and distributions by day, period and dish, a page of comments, the twelve
months' trend), as the signed-in administrator's browser gets it, asked ``asks`` times in a row:

- ``ratings_month_p50_ms``, ``ratings_month_p95_ms``;
- ``ratings``: how many ratings the school has.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import httpx
from sqlalchemy import insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import dish_versions, meal_ratings, people, set_meals
from cloud_api.reports.deadline import is_working_day
from cloud_api.services.menus import set_meal_rules
from shared.localtime import local_date
from shared.roster_contract import MealPeriod, MealRules

__all__ = ["bench_ratings"]

PERIODS = (("breakfast", clock(8, 30), clock(9)), ("lunch", clock(12), clock(13)), ("snack", clock(15), clock(15, 30)))
DISHES = 40
RATING_SHARE = 0.2  # of the students, each working day
COMMENTS = ("Вкусно", "Суп холодный", "Мало хлеба", "Спасибо поварам!", "Каша пересолена", "Очень понравилось")


def _fill(database_url: str, school_id: str, last: date) -> int:
    """The periods, dishes, last month's set meals and a year of ratings up to ``last``'s month."""
    rng = random.Random(18)
    engine = make_engine(database_url)
    first = last.replace(day=1)
    year_start = (first - timedelta(days=335)).replace(day=1)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            students = [
                r.id
                for r in conn.execute(
                    select(people.c.id).where(people.c.school_id == school_id, people.c.role == "student")
                )
            ]
            set_meal_rules(
                conn,
                school_id,
                MealRules(periods=[MealPeriod(name=n, starts=s, ends=e) for n, s, e in PERIODS]),
                actor="load",
            )
            dishes = [uuid.uuid4() for _ in range(DISHES)]
            stamp = {"school_id": school_id, "version": 1, "at": now - timedelta(days=400), "actor": "load"}
            conn.execute(
                insert(dish_versions),
                [
                    {
                        "dish_id": d,
                        "names": {"ru": f"Блюдо {n}", "kk": f"Тағам {n}"},
                        "price_tiyn": 30000,
                        "allergens": [],
                        "photo_url": None,
                        **stamp,
                    }
                    for n, d in enumerate(dishes, 1)
                ],
            )
            days = [year_start + timedelta(days=n) for n in range((last - year_start).days + 1)]
            working = [d for d in days if is_working_day(d)]
            conn.execute(
                insert(set_meals),
                [
                    {
                        "day": d,
                        "period": p,
                        "dish_ids": [str(x) for x in rng.sample(dishes, 3)],
                        "price_tiyn": 90000,
                        **stamp,
                    }
                    for d in working
                    if d >= first
                    for p, _, _ in PERIODS
                ],
            )
            stored = 0
            for day in working:
                raters = rng.sample(students, int(len(students) * RATING_SHARE))
                rows: list[dict[str, Any]] = []
                for child in raters:
                    student = rng.random() < 0.2
                    rows.append(
                        {
                            "school_id": school_id,
                            "child_id": child,
                            "day": day,
                            "period": rng.choice(PERIODS)[0],
                            "guardian_id": child if student else uuid.uuid4(),
                            "rater_role": "student" if student else "guardian",
                            "stars": rng.choices((1, 2, 3, 4, 5), (1, 1, 3, 5, 6))[0],
                            "comment": rng.choice(COMMENTS) if rng.random() < 0.1 else None,
                            "at": datetime.combine(day, clock(9), UTC),
                            "id": uuid.uuid4(),
                        }
                    )
                conn.execute(insert(meal_ratings), rows)
                stored += len(rows)
    finally:
        engine.dispose()
    return stored


def bench_ratings(client: httpx.Client, database_url: str, school_id: str, asks: int = 50) -> dict[str, float | int]:
    """Fill the school's ratings, then ask its ratings page of last month ``asks`` times (signed-in
    ``client``); the figures above."""
    today = local_date(datetime.now(UTC))
    last = today.replace(day=1) - timedelta(days=1)
    stored = _fill(database_url, school_id, last)
    path = f"/office/schools/{school_id}/ratings?month={last.strftime('%Y-%m')}"
    times = []
    for n in range(asks + 3):  # three to warm: templates compiled, caches filled
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200 or "ratings-dist" not in answer.text:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        if n >= 3:
            times.append(elapsed)
    return {
        "ratings_month_p50_ms": statistics.median(times),
        "ratings_month_p95_ms": statistics.quantiles(times, n=20)[-1],
        "ratings": stored,
    }
