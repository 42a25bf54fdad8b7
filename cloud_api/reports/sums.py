"""Meal sums in SQL over the daily rollups: what a school's, a region's and the country's reports add up.

One grouped query, whatever the grouping: the full price of each portion comes from the set meal in
force that day (the newest ``set_meals`` row of the school, day and period), so that what the state
owes is the full price less what the family paid.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, exists, func, select

from cloud_api.db.schema import rollup_meal_eaters, set_meals

__all__ = ["meal_sums"]


def meal_sums(conn: Connection, first: date, last: date, keys: list[str], schools: Any = None) -> list[Any]:
    """Rows of ``*keys, students, days, portions, paid_tiyn, full_tiyn`` grouped by ``keys``
    (columns of ``rollup_meal_eaters``), for the schools ``schools`` selects (all when None)."""
    # The set meal in force: the row with no newer one for its school, day and period. Spelled as a join
    # with NOT EXISTS, not as a join with a grouped subquery, so that SQLite looks each price up by its
    # index instead of scanning the month's prices for every rollup row (0.7 s of a school's report).
    price = set_meals.alias("price")
    newer = set_meals.alias("newer")
    m = rollup_meal_eaters.c
    in_force = ~exists().where(
        newer.c.school_id == price.c.school_id, newer.c.day == price.c.day, newer.c.period == price.c.period,
        newer.c.id > price.c.id,
    )  # fmt: skip
    query: Select[Any] = (
        select(
            *(m[k] for k in keys),
            func.count(func.distinct(m.person_key)).label("students"),
            func.count(func.distinct(m.local_date)).label("days"),
            func.sum(m.portions).label("portions"),
            func.sum(m.paid_tiyn).label("paid_tiyn"),
            func.sum(m.portions * func.coalesce(price.c.price_tiyn, 0)).label("full_tiyn"),
        )
        .select_from(rollup_meal_eaters.outerjoin(price, (price.c.school_id == m.school_id)
                     & (price.c.day == m.local_date) & (price.c.period == m.period) & in_force))
        .where(m.local_date >= first, m.local_date <= last)
        .group_by(*(m[k] for k in keys))
    )  # fmt: skip
    if schools is not None:
        query = query.where(m.school_id.in_(schools))
    return list(conn.execute(query).all())
