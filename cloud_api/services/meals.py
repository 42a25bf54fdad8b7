"""What a newly stored meal event means for money: the state's free meal, the family's charge.

Called by ingest in the batch's transaction, for the events stored now (never for duplicates):

* a free or discounted meal claims the child's (day, period) in ``free_meals``: the first event
  owns it, a second is a conflict, counted in ``mektep_free_meal_conflicts_total`` and never paid
  twice (enforced on the gateway offline, and again here);
* a meal that won its claim is queued for the Social Wallet in the same transaction
  (:func:`cloud_api.social_wallet.outbox.enqueue_meals`): the state hears of each meal it pays, once;
* what the family pays is charged to the prepaid ledger (:func:`cloud_api.services.prepaid.charge_meals`),
  and a charge that takes a balance below the family's threshold queues its low-balance notice
  (:func:`cloud_api.services.low_balance.notice_low_balances`).

An event without identity (a child without consent) claims nothing here: its gateway enforced the
rule, and the cloud cannot tell whose meal it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection

from cloud_api.core.metrics import FREE_MEAL_CONFLICTS
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import free_meals
from cloud_api.services.low_balance import notice_low_balances
from cloud_api.services.prepaid import charge_meals
from cloud_api.social_wallet.outbox import enqueue_meals
from shared.contract import Category, Decision, Event, EventKind
from shared.localtime import local_date

__all__ = ["account_meals", "claim_free_meals"]

_STATE_PAYS = (Category.FREE, Category.DISCOUNTED)


def account_meals(
    conn: Connection, school_id: str, events: Sequence[Event], menu_prices: Mapping[UUID, int], *, at: datetime
) -> None:
    """Claim the free meals and charge the paid ones among ``events`` (all newly stored), telling the
    families whose balance is now low; ``menu_prices``: each meal's set meal price at serving, for the
    Social Wallet."""
    claim_free_meals(conn, school_id, events, menu_prices, at=at)
    notice_low_balances(conn, school_id, charge_meals(conn, school_id, events, at=at), at=at)


def claim_free_meals(
    conn: Connection, school_id: str, events: Sequence[Event], menu_prices: Mapping[UUID, int], *, at: datetime
) -> set[UUID]:
    """Claim each free or discounted meal; the ids of the events whose meal was claimed already.

    Each meal that wins its claim is queued for the Social Wallet; a lost claim never is.
    """
    rows = []
    candidates: list[Event] = []
    for e in events:
        meal = e.meal
        if e.kind is not EventKind.MEAL or e.decision is not Decision.GRANTED or meal is None:
            continue
        if meal.category not in _STATE_PAYS or e.person_id is None:
            continue
        try:
            person = UUID(e.person_id)
        except ValueError:
            continue  # not a roster person: nothing the state could pay for by name
        rows.append(
            {
                "school_id": school_id,
                "person_id": person,
                "local_date": local_date(e.occurred_at),
                "period": meal.period,
                "event_id": e.id,
                "category": meal.category.value,
                "price_tiyn": meal.price_tiyn,
            }
        )
        candidates.append(e)
    if not rows:
        return set()
    stmt = dialect_insert(conn, free_meals).on_conflict_do_nothing(
        index_elements=["school_id", "person_id", "local_date", "period"]
    )
    claimed = set(conn.execute(stmt.returning(free_meals.c.event_id), rows).scalars())
    lost = {row["event_id"] for row in rows} - claimed
    enqueue_meals(conn, school_id, [e for e in candidates if e.id in claimed], menu_prices, at=at)
    if lost:
        FREE_MEAL_CONFLICTS.inc(len(lost))
    return lost
