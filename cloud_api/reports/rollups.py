"""Daily rollups for the monthly reports, kept up to date by ingest. The caller owns the transaction.

Ingest calls :func:`roll_up` with the events it has just stored (never a duplicate), so a report
reads a month of rollup rows instead of a month of raw events, and an event that arrives late
simply moves its day's rows (the next issue of the report says what changed).

- ``rollup_presence``: one row per person and local day with the first entry and the last exit
  (instants, and their local "HH:MM" as the report shows them); an event without identity (no
  consent) is its own row, role ``anonymous``: it counts, nothing more.
- ``rollup_meal_eaters``: one row per person, day, period and category with the portions served,
  what the family paid and the full price of what was served, as the menu stood at serving
  (:mod:`cloud_api.services.meal_prices`): a later price change never re-prices a meal served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, case, select, update

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import people, rollup_meal_eaters, rollup_presence
from cloud_api.services.roster_versions import next_month_version
from shared.contract import Decision, Event, EventKind
from shared.localtime import LOCAL_TZ, local_date

__all__ = ["mark_months", "price_unpriced_meals", "roll_up"]


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _counted(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """The granted entries and exits, and the granted meals: what the rollups count."""
    granted = [e for e in events if e.decision is Decision.GRANTED]
    passages = [e for e in granted if e.kind in (EventKind.ENTRY, EventKind.EXIT)]
    meals = [e for e in granted if e.kind is EventKind.MEAL and e.meal is not None]
    return passages, meals


def mark_months(conn: Connection, school_id: str, events: Sequence[Event]) -> None:
    """Take the next version of each month the events move (their reports' inputs), in one order.

    Called before the menu's prices are read: the month's row lock is also the one a set meal
    written meanwhile takes first (:func:`cloud_api.services.menus.set_day_menu`), so the two
    serialize and no meal is rolled up without the price its day's first menu gives it.
    """
    passages, meals = _counted(events)
    for month in sorted({e.occurred_at.astimezone(LOCAL_TZ).strftime("%Y-%m") for e in (*passages, *meals)}):
        next_month_version(conn, school_id, month)


def roll_up(conn: Connection, school_id: str, events: Sequence[Event], menu_prices: Mapping[UUID, int]) -> None:
    """Fold newly stored events into the day's rollups, each meal at ``menu_prices`` (its set meal's
    price at serving, :func:`~cloud_api.services.meal_prices.menu_prices_at_serving`), after
    :func:`mark_months`."""
    passages, meals = _counted(events)
    if passages:
        _presence(conn, school_id, passages)
    if meals:
        _meals(conn, school_id, meals, menu_prices)


def _roles(conn: Connection, school_id: str, events: Sequence[Event]) -> dict[str, str]:
    ids = {u for e in events if (u := _uuid(e.person_id)) is not None}
    if not ids:
        return {}
    rows = conn.execute(select(people.c.id, people.c.role).where(people.c.school_id == school_id, people.c.id.in_(ids)))
    return {str(person): str(role) for person, role in rows}


def _presence(conn: Connection, school_id: str, events: Sequence[Event]) -> None:
    roles = _roles(conn, school_id, events)
    # Folded here first: PostgreSQL refuses to update one row twice in one INSERT … ON CONFLICT.
    rows: dict[tuple[date, str], dict[str, Any]] = {}
    for e in events:
        known = e.person_id if e.person_id in roles else None
        local = e.occurred_at.astimezone(LOCAL_TZ)
        key = (local.date(), known or str(e.id))
        row = rows.setdefault(
            key,
            {
                "school_id": school_id,
                "local_date": key[0],
                "person_key": key[1],
                "role": roles[known] if known else "anonymous",
                "first_entry": None,
                "last_exit": None,
                "first_entry_local": None,
                "last_exit_local": None,
            },
        )
        at, clock = e.occurred_at, f"{local.hour:02d}:{local.minute:02d}"
        if e.kind is EventKind.ENTRY and (row["first_entry"] is None or at < row["first_entry"]):
            row["first_entry"], row["first_entry_local"] = at, clock
        elif e.kind is EventKind.EXIT and (row["last_exit"] is None or at > row["last_exit"]):
            row["last_exit"], row["last_exit_local"] = at, clock
    stmt = dialect_insert(conn, rollup_presence)
    new, old = stmt.excluded, rollup_presence.c
    # The stored row keeps the earlier entry and the later exit, each with its own local time.
    earlier = (old.first_entry.is_(None)) | ((new.first_entry.is_not(None)) & (new.first_entry < old.first_entry))
    later = (old.last_exit.is_(None)) | ((new.last_exit.is_not(None)) & (new.last_exit > old.last_exit))
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["school_id", "local_date", "person_key"],
            set_={
                "first_entry": case((earlier, new.first_entry), else_=old.first_entry),
                "first_entry_local": case((earlier, new.first_entry_local), else_=old.first_entry_local),
                "last_exit": case((later, new.last_exit), else_=old.last_exit),
                "last_exit_local": case((later, new.last_exit_local), else_=old.last_exit_local),
            },
        ),
        list(rows.values()),
    )


def _meals(conn: Connection, school_id: str, events: Sequence[Event], menu_prices: Mapping[UUID, int]) -> None:
    rows: dict[tuple[date, str, str, str], dict[str, Any]] = {}
    for e in events:
        meal = e.meal
        assert meal is not None
        person = e.person_id if _uuid(e.person_id) is not None else str(e.id)
        key = (local_date(e.occurred_at), person, meal.period, meal.category.value)
        row = rows.setdefault(
            key,
            {
                "school_id": school_id,
                "local_date": key[0],
                "person_key": key[1],
                "period": key[2],
                "category": key[3],
                "portions": 0,
                "paid_tiyn": 0,
                "full_tiyn": 0,
                "dishes": list(meal.dishes),
            },
        )
        row["portions"] += 1
        row["paid_tiyn"] += meal.price_tiyn
        row["full_tiyn"] += menu_prices.get(e.id, 0)
    stmt = dialect_insert(conn, rollup_meal_eaters)
    new, old = stmt.excluded, rollup_meal_eaters.c
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["school_id", "local_date", "person_key", "period", "category"],
            set_={
                "portions": old.portions + new.portions,
                "paid_tiyn": old.paid_tiyn + new.paid_tiyn,
                "full_tiyn": old.full_tiyn + new.full_tiyn,
            },
        ),
        list(rows.values()),
    )


def price_unpriced_meals(conn: Connection, school_id: str, day: date, period: str, price_tiyn: int) -> None:
    """Price the meals of a day and period served before it had any menu, by its first menu.

    Called when the first set meal of that day and period is written: every meal rolled up for it
    until then was served without a price to freeze.
    """
    m = rollup_meal_eaters.c
    conn.execute(
        update(rollup_meal_eaters)
        .where(m.school_id == school_id, m.local_date == day, m.period == period)
        .values(full_tiyn=m.portions * price_tiyn)
    )
    # The month's version is its caller's to take, first (menus.set_day_menu): it holds the lock already.
