"""Meal sums in SQL over the daily rollups: what a school's, a region's and the country's reports add up.

One grouped query, whatever the grouping: the full price of each portion comes from the set meal in
force that day (the newest ``set_meals`` row of the school, day and period), so that what the state
owes is the full price less what the family paid.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, func, select

from cloud_api.db.schema import rollup_meal_eaters, set_meals

__all__ = ["meal_sums"]


def meal_sums(conn: Connection, first: date, last: date, keys: list[str], schools: Any = None) -> list[Any]:
    """Rows of ``*keys, students, days, portions, paid_tiyn, full_tiyn`` grouped by ``keys``
    (columns of ``rollup_meal_eaters``), for the schools ``schools`` selects (all when None)."""
    newest = (
        select(set_meals.c.school_id, set_meals.c.day, set_meals.c.period, func.max(set_meals.c.id).label("id"))
        .where(set_meals.c.day >= first, set_meals.c.day <= last)
        .group_by(set_meals.c.school_id, set_meals.c.day, set_meals.c.period)
        .subquery()
    )
    prices = (
        select(set_meals.c.school_id, set_meals.c.day, set_meals.c.period, set_meals.c.price_tiyn)
        .join(newest, set_meals.c.id == newest.c.id)
        .subquery()
    )
    m = rollup_meal_eaters.c
    query: Select[Any] = (
        select(
            *(m[k] for k in keys),
            func.count(func.distinct(m.person_key)).label("students"),
            func.count(func.distinct(m.local_date)).label("days"),
            func.sum(m.portions).label("portions"),
            func.sum(m.paid_tiyn).label("paid_tiyn"),
            func.sum(m.portions * func.coalesce(prices.c.price_tiyn, 0)).label("full_tiyn"),
        )
        .outerjoin(prices, (prices.c.school_id == m.school_id) & (prices.c.day == m.local_date)
                   & (prices.c.period == m.period))
        .where(m.local_date >= first, m.local_date <= last)
        .group_by(*(m[k] for k in keys))
    )  # fmt: skip
    if schools is not None:
        query = query.where(m.school_id.in_(schools))
    return list(conn.execute(query))
