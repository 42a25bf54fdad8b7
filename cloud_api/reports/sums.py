"""Meal sums in SQL over the daily rollups: what a school's, a region's and the country's reports add up.

Each rollup row carries the full price of what it counts, frozen when the meal was served (see
:mod:`cloud_api.services.meal_prices`), so that what the state owes is the full price less what the
family paid, and a later change of the menu's price moves no meal already served. The sums are
therefore one grouped scan of the rollups, with no join to the menus.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from cloud_api.db.schema import rollup_meal_eaters

__all__ = ["meal_sums"]


def meal_sums(conn: Connection, first: date, last: date, keys: list[str], schools: Any = None) -> list[Any]:
    """Rows of ``*keys, students, days, portions, paid_tiyn, full_tiyn`` grouped by ``keys``
    (columns of ``rollup_meal_eaters``), for the schools ``schools`` selects (all when None)."""
    m = rollup_meal_eaters.c
    where = [m.local_date >= first, m.local_date <= last]
    if schools is not None:
        where.append(m.school_id.in_(schools))
    grouping = [m[k] for k in keys]
    query = (
        select(
            *grouping,
            func.count(func.distinct(m.person_key)).label("students"),
            func.count(func.distinct(m.local_date)).label("days"),
            func.sum(m.portions).label("portions"),
            func.sum(m.paid_tiyn).label("paid_tiyn"),
            func.sum(m.full_tiyn).label("full_tiyn"),
        )
        .where(*where)
        .group_by(*grouping)
    )
    return list(conn.execute(query).all())
