"""What a meal cost when it was served: the day's set meal as its menu stood at that moment.

A meal's full price is frozen when it is served, for every category: the state's share of a free or
discounted meal and the family's charge for a paid one alike. A later change of the menu's price
applies to later meals only. A gateway offline for a week delivers its meals late; they are priced
as at serving, not as at delivery.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.schema import set_meals
from shared.contract import Event
from shared.localtime import local_date

__all__ = ["full_price", "menu_prices_at_serving"]


def menu_prices_at_serving(conn: Connection, school_id: str, events: Sequence[Event]) -> dict[UUID, int]:
    """The set meal's price of each meal event's day and period, as the menu stood when it was served.

    That is the newest version of the set meal made at or before the moment of serving; when the menu
    was only entered afterwards, its first version (the price the school first published). A meal
    whose day and period have no set meal at all has no entry.
    """
    meals = [e for e in events if e.meal is not None]
    if not meals:
        return {}
    days = {local_date(e.occurred_at) for e in meals}
    versions: dict[tuple[date, str], list[tuple[datetime, int]]] = defaultdict(list)
    query = (
        select(set_meals.c.day, set_meals.c.period, set_meals.c.at, set_meals.c.price_tiyn)
        .where(set_meals.c.school_id == school_id, set_meals.c.day.in_(days))
        .order_by(set_meals.c.id)
    )
    for row in conn.execute(query):
        versions[(row.day, row.period)].append((row.at, int(row.price_tiyn)))
    prices: dict[UUID, int] = {}
    for e in meals:
        assert e.meal is not None
        menu = versions.get((local_date(e.occurred_at), e.meal.period))
        if not menu:
            continue
        before = [price for at, price in menu if at <= e.occurred_at]
        prices[e.id] = before[-1] if before else menu[0][1]
    return prices


def full_price(paid_tiyn: int, menu_price: int | None, discount_percent: int | None) -> int:
    """A meal's full price: the set meal's at serving; without a menu, what the family's share implies.

    A discounted share of ``d`` percent off means the family paid ``100 - d`` percent. Without a
    menu and without a discount the only price known is what the family paid (0 for a free meal):
    sent as it is, and the табель's zero shows the school its missing menu.
    """
    if menu_price is not None:
        return max(menu_price, paid_tiyn)
    if discount_percent is not None and 0 < discount_percent < 100 and paid_tiyn > 0:
        return round(paid_tiyn * 100 / (100 - discount_percent))
    return paid_tiyn
