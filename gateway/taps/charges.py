"""The canteen's money on the gateway: every paid meal it served, summed per person, on disk.

A prepaid balance is judged against this count offline and across restarts, whatever the cloud has
received yet (:meth:`gateway.taps.rules.RosterPolicy.remember_charges`). The sums are written in the
transaction that records the meals (:meth:`gateway.taps.outbox.Outbox.record`'s ``also``), so a meal
and its charge commit together or not at all, and they are never pruned with the events they sum.
The table itself is made by the outbox's migrations (``m005_charges``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.taps.drafts import Draft
from gateway.taps.outbox import Recorded

__all__ = ["add_charges", "charged_per_person", "is_charge"]


def is_charge(draft: Draft) -> bool:
    """Whether recording ``draft`` charges someone: a granted meal with a price, of a known person."""
    meal = draft.meal
    return draft.granted and meal is not None and meal.price_tiyn > 0 and draft.local_person is not None


def add_charges(conn: sqlite3.Connection, recorded: Sequence[Recorded]) -> None:
    """Add the price of every newly recorded paid meal to its person's sum (in the caller's transaction)."""
    rows = [(r.event.local_person, r.event.meal.price_tiyn) for r in recorded if r.new and is_charge(r.event)]  # type: ignore[union-attr]
    if rows:
        conn.executemany(
            "INSERT INTO charges (person_id, charged_tiyn) VALUES (?, ?) "
            "ON CONFLICT (person_id) DO UPDATE SET charged_tiyn = charged_tiyn + excluded.charged_tiyn",
            rows,
        )


def charged_per_person(conn: sqlite3.Connection) -> dict[str, int]:
    """Every paid meal's price this gateway recorded, summed per person (tiyn)."""
    return {person: int(total) for person, total in conn.execute("SELECT person_id, charged_tiyn FROM charges")}
