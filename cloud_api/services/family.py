"""What a guardian reads of their own children: who they are, their day, their month; and meal ratings.

The caller has checked that the guardian is signed in; every function here takes the guardian's
own id and answers only for that guardian's children (another family's child is simply absent).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.api.schemas.accounts import ChildPublic, PersonPublic
from cloud_api.db.schema import events, guardianships, meal_ratings, people
from cloud_api.services.consent import consents_of, require_guardian
from cloud_api.services.dish_names import dish_names
from cloud_api.services.ratings import record_rating
from shared.localtime import LOCAL_TZ

__all__ = ["DaySummary", "child_day", "child_month", "children_of", "rate_meal", "ratings_given", "ratings_of"]

_PUBLIC = [people.c[name] for name in PersonPublic.model_fields]


def children_of(conn: Connection, school_id: str, guardian_id: UUID, child_id: UUID | None = None) -> list[ChildPublic]:
    """The guardian's children (or the one child, if theirs), with the consent in force; no IIN."""
    query = (
        select(*_PUBLIC)
        .join(
            guardianships, (guardianships.c.school_id == people.c.school_id) & (guardianships.c.child_id == people.c.id)
        )
        .where(guardianships.c.school_id == school_id, guardianships.c.guardian_id == guardian_id)
        .order_by(people.c.last_name, people.c.first_name, people.c.id)
    )
    if child_id is not None:
        query = query.where(people.c.id == child_id)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    ids = [r["id"] for r in rows]
    consent, qr = consents_of(conn, school_id, ids), consents_of(conn, school_id, ids, "qr")
    return [ChildPublic(**r, consent=consent.get(r["id"], False), qr_consent=qr.get(r["id"], False)) for r in rows]


def child_day(
    conn: Connection, school_id: str, child_id: UUID, day: date, language: str | None = None
) -> list[dict[str, Any]]:
    """The child's entries, exits, meals and refused meals of one local day, in order, local times.

    With ``language``, a meal's dishes are named in it (:mod:`cloud_api.services.dish_names`);
    without, as the gateway recorded them. ``reason_detail`` lists what a refusal named.
    """
    rows = conn.execute(
        select(
            events.c.kind,
            events.c.occurred_at,
            events.c.decision,
            events.c.reason,
            events.c.meal,
            events.c.reason_detail,
        )
        .where(events.c.school_id == school_id, events.c.person_id == str(child_id), events.c.local_date == day)
        .where(events.c.kind.in_(("entry", "exit", "meal", "denied")))
        .order_by(events.c.occurred_at)
    )
    found = [
        {**dict(r._mapping), "reason_detail": list(r.reason_detail or []), "local": r.occurred_at.astimezone(LOCAL_TZ)}
        for r in rows
    ]
    if language is not None and any(e["meal"] for e in found):
        names = dish_names(conn, school_id)
        for event in found:
            if event["meal"]:
                event["meal"] = {**event["meal"], "dishes": names.all_of(event["meal"].get("dishes") or [], language)}
    return found


@dataclass
class DaySummary:
    """One day of a month: first entry, last exit, meals (and what each served)."""

    day: date
    first_entry: datetime | None = None
    last_exit: datetime | None = None
    meals: list[str] = field(default_factory=list)  # periods
    dishes: list[list[str]] = field(default_factory=list)  # each meal's dishes, in the order of ``meals``


def child_month(
    conn: Connection, school_id: str, child_id: UUID, month: date, language: str | None = None
) -> list[DaySummary]:
    """Per day of ``month`` (any day in it) on which anything happened: first entry, last exit, meals.

    With ``language``, each meal's dishes are named in it.
    """
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    rows = conn.execute(
        select(events.c.local_date, events.c.kind, events.c.occurred_at, events.c.meal)
        .where(events.c.school_id == school_id, events.c.person_id == str(child_id))
        .where(events.c.local_date >= first, events.c.local_date < after, events.c.decision == "granted")
        .order_by(events.c.occurred_at)
    ).all()
    names = dish_names(conn, school_id) if language is not None and any(r.meal for r in rows) else None
    days: dict[date, DaySummary] = {}
    for r in rows:
        summary = days.setdefault(r.local_date, DaySummary(r.local_date))
        local = r.occurred_at.astimezone(LOCAL_TZ)
        if r.kind == "entry" and summary.first_entry is None:
            summary.first_entry = local
        elif r.kind == "exit":
            summary.last_exit = local
        elif r.kind == "meal" and r.meal:
            summary.meals.append(str(r.meal.get("period", "")))
            served = list(r.meal.get("dishes") or [])
            summary.dishes.append(names.all_of(served, language) if names is not None else served)
    return [days[d] for d in sorted(days)]


def rate_meal(
    conn: Connection,
    school_id: str,
    child_id: UUID,
    guardian_id: UUID,
    day: date,
    period: str,
    stars: int,
    comment: str | None,
) -> None:
    """A guardian rates a meal their child had (1–5 and a comment); rating it again replaces it."""
    require_guardian(conn, school_id, guardian_id, child_id)
    record_rating(conn, school_id, child_id, guardian_id, "guardian", day, period, stars, comment)


def ratings_given(
    conn: Connection, school_id: str, child_id: UUID, guardian_id: UUID, day: date
) -> dict[str, tuple[int, str]]:
    """The guardian's own ratings of the child's meals of ``day``, per period: (stars, comment or "")."""
    rows = conn.execute(
        select(meal_ratings.c.period, meal_ratings.c.stars, meal_ratings.c.comment).where(
            meal_ratings.c.school_id == school_id,
            meal_ratings.c.child_id == child_id,
            meal_ratings.c.day == day,
            meal_ratings.c.guardian_id == guardian_id,
        )
    )
    return {str(period): (int(stars), comment or "") for period, stars, comment in rows}


def ratings_of(conn: Connection, school_id: str, day: date) -> dict[str, tuple[float, int]]:
    """The school's ratings of one day, per period: (mean stars, how many)."""
    rows = conn.execute(
        select(meal_ratings.c.period, meal_ratings.c.stars).where(
            meal_ratings.c.school_id == school_id, meal_ratings.c.day == day
        )
    )
    stars: defaultdict[str, list[int]] = defaultdict(list)
    for period, value in rows:
        stars[period].append(int(value))
    return {period: (sum(values) / len(values), len(values)) for period, values in stars.items()}
