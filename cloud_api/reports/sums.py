"""Meal sums in SQL over the daily rollups: what a school's, a region's and the country's reports add up.

The full price of each portion comes from the set meal in force that day (the newest ``set_meals``
row of the school, day and period), so that what the state owes is the full price less what the
family paid. How the price is joined depends on the grouping:

- grouped by person, each group is a person's few rows: the rows are joined to their price one by
  one, in the same query that counts them;
- grouped by anything coarser (a day, a school), the portions are first summed per school, day and
  period, and only those sums are priced; the students are counted in a second query with no join.
  A region's month is sixteen million rollup rows: pricing each one and then sorting them for the
  distinct count was most of its report's time.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, exists, func, select

from cloud_api.db.schema import rollup_meal_eaters, set_meals

__all__ = ["meal_sums"]


def _price_in_force(school_id: Any, day: Any, period: Any) -> tuple[Any, ColumnElement[bool]]:
    """The set meal table, aliased, and the condition that picks its row in force for (school, day,
    period): the row with no newer one. Spelled as NOT EXISTS, not as a join with a grouped subquery,
    so that SQLite looks each price up by its index instead of scanning the month's prices."""
    price = set_meals.alias("price")
    newer = set_meals.alias("newer")
    in_force = ~exists().where(
        newer.c.school_id == price.c.school_id,
        newer.c.day == price.c.day,
        newer.c.period == price.c.period,
        newer.c.id > price.c.id,
    )
    return price, (price.c.school_id == school_id) & (price.c.day == day) & (price.c.period == period) & in_force


def meal_sums(conn: Connection, first: date, last: date, keys: list[str], schools: Any = None) -> list[Any]:
    """Rows of ``*keys, students, days, portions, paid_tiyn, full_tiyn`` grouped by ``keys``
    (columns of ``rollup_meal_eaters``), for the schools ``schools`` selects (all when None)."""
    m = rollup_meal_eaters.c
    where = [m.local_date >= first, m.local_date <= last]
    if schools is not None:
        where.append(m.school_id.in_(schools))
    counted = [
        func.count(func.distinct(m.person_key)).label("students"),
        func.count(func.distinct(m.local_date)).label("days"),
        func.sum(m.portions).label("portions"),
        func.sum(m.paid_tiyn).label("paid_tiyn"),
    ]
    grouping = [m[k] for k in keys]
    if "person_key" in keys:
        price, priced = _price_in_force(m.school_id, m.local_date, m.period)
        query: Select[Any] = (
            select(*grouping, *counted, func.sum(m.portions * func.coalesce(price.c.price_tiyn, 0)).label("full_tiyn"))
            .select_from(rollup_meal_eaters.outerjoin(price, priced))
            .where(*where)
            .group_by(*grouping)
        )
        return list(conn.execute(query).all())
    per_period = list(dict.fromkeys([*keys, "school_id", "local_date", "period"]))
    eaten = (
        select(*(m[k] for k in per_period), func.sum(m.portions).label("portions"))
        .where(*where)
        .group_by(*(m[k] for k in per_period))
        .subquery("eaten")
    )
    e = eaten.c
    price, priced = _price_in_force(e.school_id, e.local_date, e.period)
    money = (
        select(*(e[k] for k in keys), func.sum(e.portions * func.coalesce(price.c.price_tiyn, 0)).label("full_tiyn"))
        .select_from(eaten.outerjoin(price, priced))
        .group_by(*(e[k] for k in keys))
    )
    full = {tuple(row[: len(keys)]): row.full_tiyn for row in conn.execute(money).all()}
    counts = conn.execute(select(*grouping, *counted).where(*where).group_by(*grouping)).all()
    return [SimpleNamespace(**row._mapping, full_tiyn=full.get(tuple(row[: len(keys)]), 0)) for row in counts]
