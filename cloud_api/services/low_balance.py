"""A family's low-balance notice: the threshold its guardians choose, and the rule that tells them.

When a paid meal takes a child's balance below the threshold, the family gets a push notice
(``low_balance``, :func:`cloud_api.push.notices.queue_family_notice`), at most once in two local
days: the meals of the next day, still below, tell nothing new; on the day after, a reminder. The
rule runs in the ingest's transaction that charged the meal (:func:`cloud_api.services.meals.account_meals`),
so a notice is queued exactly when its charge is stored, and a batch replayed changes nothing.

The threshold is the child's, not one guardian's: every guardian who wants money notices
(``NoticeSettings.money``) gets the same notice, as every guardian sees the same balance and the
same daily limit. It is on by default (:data:`DEFAULT_THRESHOLD_TIYN`): a parent who never opened
the money page still hears before the canteen refuses a meal for want of money, and a family whose
meals are all free is never told, since only a charge runs the rule. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import low_balance_notices, low_balance_thresholds
from cloud_api.push.notices import queue_family_notice
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.consent import require_guardian
from cloud_api.services.menus import current_meal_rules
from cloud_api.services.prepaid import accounts_of
from shared.localtime import local_date

__all__ = [
    "DEFAULT_THRESHOLD_TIYN",
    "MAX_THRESHOLD_TIYN",
    "NOTICE_EVERY",
    "Threshold",
    "notice_low_balances",
    "set_threshold",
    "threshold_of",
]

# About two paid lunches, as the office's list of low balances counts by default: time to top up.
DEFAULT_THRESHOLD_TIYN = 1_000_00
MAX_THRESHOLD_TIYN = 100_000_00  # more than a term of lunches: a zero typed too many
NOTICE_EVERY = timedelta(days=2)  # local days between two notices of one child


@dataclass(frozen=True, slots=True)
class Threshold:
    """A child's low-balance threshold in force: ``tiyn`` None is no notice; ``chosen`` False is the default."""

    tiyn: int | None
    chosen: bool


def threshold_of(conn: Connection, school_id: str, child_id: UUID) -> Threshold:
    """The threshold in force for ``child_id``: the family's choice, else the default."""
    return _thresholds(conn, school_id, [child_id])[child_id]


def _thresholds(conn: Connection, school_id: str, child_ids: Iterable[UUID]) -> dict[UUID, Threshold]:
    ids = list(child_ids)
    c = low_balance_thresholds.c
    chosen = dict(
        conn.execute(select(c.child_id, c.threshold_tiyn).where(c.school_id == school_id, c.child_id.in_(ids))).all()
    )
    return {i: Threshold(chosen[i], True) if i in chosen else Threshold(DEFAULT_THRESHOLD_TIYN, False) for i in ids}


def set_threshold(
    conn: Connection,
    school_id: str,
    child_id: UUID,
    guardian_id: UUID,
    tiyn: int | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    """A guardian sets the child's threshold (None: no notice); audited. ``unknown_person`` if not their child."""
    require_guardian(conn, school_id, guardian_id, child_id)
    if tiyn is not None and not 0 < tiyn <= MAX_THRESHOLD_TIYN:
        raise ValueError(f"a threshold is above zero and at most {MAX_THRESHOLD_TIYN} tiyn")
    before = threshold_of(conn, school_id, child_id)
    if before.chosen and before.tiyn == tiyn:
        return
    values = {"threshold_tiyn": tiyn, "at": now, "actor": actor}
    stmt = dialect_insert(conn, low_balance_thresholds).values(school_id=school_id, child_id=child_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["school_id", "child_id"], set_=values))
    entry = AuditEntry(
        "update", "low_balance_threshold", str(child_id), {"threshold_tiyn": before.tiyn}, {"threshold_tiyn": tiyn}
    )
    write_audit(conn, school_id, actor, now, [entry])


def notice_low_balances(conn: Connection, school_id: str, child_ids: Iterable[UUID], *, at: datetime) -> list[UUID]:
    """Queue a ``low_balance`` notice for each of ``child_ids`` (just charged) now below its threshold; whose.

    A child's family is told at most once in two local days (the day of ``at``, the ingest's clock):
    the last notice's day is kept, checked and moved here, in the charge's transaction. The
    notice's key is the day, so the same day never queues two.
    """
    ids = sorted(set(child_ids))
    if not ids:
        return []
    # A school whose families pay at the till keeps a ledger too, but nobody tops anything up there:
    # only a prepaid school's balance is the family's to watch.
    rules = current_meal_rules(conn, school_id)
    if rules is None or not rules[0].prepaid:
        return []
    thresholds = _thresholds(conn, school_id, ids)
    low = {
        child: (account.balance_tiyn, limit)
        for child, account in accounts_of(conn, school_id, ids).items()
        if (limit := thresholds[child].tiyn) is not None and account.balance_tiyn < limit
    }
    if not low:
        return []
    today = local_date(at)
    c = low_balance_notices.c
    last: dict[UUID, date] = dict(
        conn.execute(select(c.child_id, c.notified_on).where(c.school_id == school_id, c.child_id.in_(list(low)))).all()
    )
    told: list[UUID] = []
    for child, (balance, threshold) in sorted(low.items()):
        if child in last and today - last[child] < NOTICE_EVERY:
            continue
        facts = {"balance_tiyn": balance, "threshold_tiyn": threshold}
        queue_family_notice(conn, school_id, child, "low_balance", today.isoformat(), facts, at)
        stmt = dialect_insert(conn, low_balance_notices).values(
            school_id=school_id, child_id=child, notified_on=today, at=at
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["school_id", "child_id"], set_={"notified_on": today, "at": at})
        )
        told.append(child)
    return told
