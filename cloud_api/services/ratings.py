"""Meal ratings (§33-1.8): stored for guardians and students, read by the school, moderated.

A guardian rates a meal their child had; a student rates their own. Either gives 1 to 5 stars and
perhaps a comment; rating the same meal again replaces the rating. Each new rating moves its
month's version, so that the month's meals report (which says the average) is drafted again.

The school reads its ratings by day, period and dish (a rating is of a day's period: its dishes are
that day's set meal of the period), with the distribution of the stars, the comments and the trend
over months. Its administrator may hide a comment (and show it again), journalled: hiding takes the
words away, never the stars, which still count in every average.

The caller owns the transaction and has checked who may do what (the office: the administrator
moderates; canteen staff read, never a rater's name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from sqlalchemy import Connection, and_, case, func, literal, select, union_all, update
from sqlalchemy.orm import aliased

from cloud_api.core.errors import DomainError
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import events, meal_ratings, people, set_meals
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.menus import current_dishes, current_meal_rules, period_order
from cloud_api.services.roster_versions import next_month_version

__all__ = [
    "COMMENT_MAX",
    "Comment",
    "MonthRatings",
    "OwnRating",
    "RaterRole",
    "Tally",
    "month_after",
    "month_rating",
    "month_ratings",
    "own_ratings",
    "rate_as_student",
    "rating_comments",
    "rating_rows",
    "ratings_trend",
    "record_rating",
    "set_comment_hidden",
]

COMMENT_MAX = 500
RaterRole = Literal["guardian", "student"]
r = meal_ratings.c


def month_after(month: date) -> date:
    """The first day of the month after ``month``'s."""
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def _valid(stars: object, comment: str | None) -> str | None:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise DomainError("bad_rating")
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX:
        raise DomainError("comment_too_long")
    return text or None


def _had_meal(conn: Connection, school_id: str, child_id: UUID, day: date, period: str) -> bool:
    meals = conn.execute(
        select(events.c.meal).where(
            events.c.school_id == school_id,
            events.c.person_id == str(child_id),
            events.c.local_date == day,
            events.c.kind == "meal",
            events.c.decision == "granted",
        )
    ).scalars()
    return any(meal and meal.get("period") == period for meal in meals)


def record_rating(
    conn: Connection,
    school_id: str,
    child_id: UUID,
    rater_id: UUID,
    rater_role: RaterRole,
    day: date,
    period: str,
    stars: int,
    comment: str | None,
) -> None:
    """Store a rating of the child's meal of ``day`` and ``period`` by ``rater_id`` (whose right to
    rate the caller has checked); the same rater's earlier rating of that meal is replaced (a comment
    the administrator hid stays hidden unless its words change).

    Refuses stars outside 1–5 (``bad_rating``), a comment over 500 characters (``comment_too_long``)
    and a meal the child did not have (``no_meal_to_rate``).
    """
    text = _valid(stars, comment)
    if not _had_meal(conn, school_id, child_id, day, period):
        raise DomainError("no_meal_to_rate")  # a rating is of a meal the child had
    values = {"stars": stars, "comment": text, "at": datetime.now(UTC)}
    stmt = dialect_insert(conn, meal_ratings).values(
        school_id=school_id,
        child_id=child_id,
        day=day,
        period=period,
        guardian_id=rater_id,
        rater_role=rater_role,
        id=uuid4(),
        **values,
    )
    key = ["school_id", "child_id", "day", "period", "guardian_id"]
    # The same words rated again stay hidden if the administrator hid them: rating again must not
    # undo the moderation. New words are new, and shown until someone hides them.
    r, new = meal_ratings.c, stmt.excluded
    same_words = r.comment == new.comment
    moderation = {
        "hidden_at": case((same_words, r.hidden_at), else_=None),
        "hidden_by": case((same_words, r.hidden_by), else_=None),
    }
    conn.execute(stmt.on_conflict_do_update(index_elements=key, set_={**values, **moderation}))
    next_month_version(conn, school_id, day.strftime("%Y-%m"))  # the meals report says the month's average


def rate_as_student(
    conn: Connection, school_id: str, student_id: UUID, day: date, period: str, stars: int, comment: str | None
) -> None:
    """A student rates their own meal; anyone else than a current student of the school is refused
    (``not_a_student``)."""
    role = conn.execute(
        select(people.c.role).where(
            people.c.school_id == school_id, people.c.id == student_id, people.c.active.is_(True)
        )
    ).scalar_one_or_none()
    if role != "student":
        raise DomainError("not_a_student")
    record_rating(conn, school_id, student_id, student_id, "student", day, period, stars, comment)


@dataclass(frozen=True)
class OwnRating:
    """A rating as its rater reads it back: the stars and their own words (even if the school hid them)."""

    stars: int
    comment: str | None


def own_ratings(conn: Connection, school_id: str, child_id: UUID, rater_id: UUID, day: date) -> dict[str, OwnRating]:
    """The ratings ``rater_id`` gave of ``child_id``'s meals of ``day``, by period (a student: their own)."""
    rows = conn.execute(
        select(r.period, r.stars, r.comment).where(
            r.school_id == school_id, r.child_id == child_id, r.day == day, r.guardian_id == rater_id
        )
    )
    return {row.period: OwnRating(int(row.stars), row.comment) for row in rows}


def set_comment_hidden(conn: Connection, school_id: str, rating_id: UUID, hidden: bool, *, actor: str) -> bool:
    """Hide a rating's comment (or show it again), journalled; False when it already was so.

    A rating the school does not have (another school's, or none) is ``unknown_rating``.
    """
    row = conn.execute(
        select(r.hidden_at, r.hidden_by).where(r.school_id == school_id, r.id == rating_id)
    ).one_or_none()
    if row is None:
        raise DomainError("unknown_rating")
    if (row.hidden_at is not None) == hidden:
        return False
    now = datetime.now(UTC)
    conn.execute(
        update(meal_ratings)
        .where(r.school_id == school_id, r.id == rating_id)
        .values(hidden_at=now if hidden else None, hidden_by=actor if hidden else None)
    )
    entry = AuditEntry("update", "meal_rating", str(rating_id), {"hidden": not hidden}, {"hidden": hidden})
    write_audit(conn, school_id, actor, now, [entry])
    return True


@dataclass
class Tally:
    """Ratings counted: how many of each star (1 to 5), their number and their mean."""

    stars: list[int] = field(default_factory=lambda: [0] * 5)  # stars[0]: how many gave 1 star

    def add(self, stars: int, count: int = 1) -> None:
        """Count ``count`` ratings of ``stars``."""
        self.stars[stars - 1] += count

    def merge(self, other: Tally) -> None:
        """Count ``other``'s ratings too."""
        for n, count in enumerate(other.stars):
            self.stars[n] += count

    @property
    def count(self) -> int:
        """How many ratings."""
        return sum(self.stars)

    @property
    def average(self) -> float | None:
        """Their mean number of stars (None without any)."""
        total = self.count
        return sum((n + 1) * c for n, c in enumerate(self.stars)) / total if total else None

    def share(self, stars: int) -> float:
        """The part of the ratings (0 to 1) that gave ``stars``."""
        total = self.count
        return self.stars[stars - 1] / total if total else 0.0


@dataclass
class DishTally:
    """A dish and the ratings of the meals it was part of."""

    dish_id: UUID
    names: dict[str, str]
    tally: Tally


@dataclass
class MonthRatings:
    """A month's (or one day's) ratings of a school, counted every way the office shows them."""

    first: date
    after: date
    overall: Tally
    by_day: list[tuple[date, Tally]]
    by_period: list[tuple[str, Tally]]
    by_dish: list[DishTally]
    unplanned: int  # ratings of a day and period with no set meal (counted in no dish)


def _menus(conn: Connection, school_id: str, first: date, after: date) -> dict[tuple[date, str], list[str]]:
    """The set meal in force of each (day, period): its dishes' ids."""
    found: dict[tuple[date, str], list[str]] = {}
    for day, period, dish_ids in conn.execute(
        select(set_meals.c.day, set_meals.c.period, set_meals.c.dish_ids)
        .where(set_meals.c.school_id == school_id, set_meals.c.day >= first, set_meals.c.day < after)
        .order_by(set_meals.c.id)
    ):
        found[(day, period)] = [str(d) for d in dish_ids]  # the newest row of a day and period wins
    return found


def month_ratings(conn: Connection, school_id: str, month: date, day: date | None = None) -> MonthRatings:
    """The ratings of ``month`` (any day in it), or of ``day`` alone, by day, period and dish."""
    first, after = (day, day + timedelta(days=1)) if day else (month.replace(day=1), month_after(month))
    cells: dict[tuple[date, str], Tally] = defaultdict(Tally)
    for on, period, stars, count in conn.execute(
        select(r.day, r.period, r.stars, func.count())
        .where(r.school_id == school_id, r.day >= first, r.day < after)
        .group_by(r.day, r.period, r.stars)
    ):
        cells[(on, period)].add(int(stars), int(count))
    overall = Tally()
    days: dict[date, Tally] = defaultdict(Tally)
    periods: dict[str, Tally] = defaultdict(Tally)
    for (on, period), tally in cells.items():
        overall.merge(tally)
        days[on].merge(tally)
        periods[period].merge(tally)
    rules = current_meal_rules(conn, school_id)
    order = period_order(rules[0] if rules else None)  # by the time of day, never by name
    menus = _menus(conn, school_id, first, after) if cells else {}
    dishes: dict[str, Tally] = defaultdict(Tally)
    unplanned = 0
    for key, tally in cells.items():
        if key not in menus:
            unplanned += tally.count
        for dish_id in dict.fromkeys(menus.get(key, [])):
            dishes[dish_id].merge(tally)
    names = {str(d.id): dict(d.names) for d in current_dishes(conn, school_id)} if dishes else {}
    by_dish = [DishTally(UUID(d), names.get(d, {}), t) for d, t in dishes.items()]
    by_dish.sort(key=lambda d: (-(d.tally.average or 0), -d.tally.count, str(d.dish_id)))
    return MonthRatings(
        first,
        after,
        overall,
        sorted(days.items()),
        [(p, periods[p]) for p in sorted(periods, key=lambda p: (order.get(p, len(order)), p))],
        by_dish,
        unplanned,
    )


@dataclass(frozen=True)
class Comment:
    """A rating with a comment, as the office lists it; names only for the administrator."""

    id: UUID
    day: date
    period: str
    stars: int
    comment: str | None  # None: hidden, for a reader who may not see it
    rater_role: str
    at: datetime
    hidden_at: datetime | None
    hidden_by: str | None
    rater: str | None = None  # "Surname Name", for the administrator only
    child: str | None = None
    child_class: str | None = None
    dishes: tuple[str, ...] = ()  # dish ids of the day's set meal of the period


def _named(query: Any) -> Any:
    rater, child = aliased(people), aliased(people)
    return (
        query.add_columns(
            rater.c.last_name.label("rater_last"),
            rater.c.first_name.label("rater_first"),
            child.c.last_name.label("child_last"),
            child.c.first_name.label("child_first"),
            child.c.class_name.label("child_class"),
        )
        .outerjoin(rater, and_(rater.c.school_id == r.school_id, rater.c.id == r.guardian_id))
        .outerjoin(child, and_(child.c.school_id == r.school_id, child.c.id == r.child_id))
    )


def rating_comments(
    conn: Connection,
    school_id: str,
    first: date,
    after: date,
    *,
    names: bool,
    with_hidden: bool,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Comment], int]:
    """The ratings with a comment from ``first`` to before ``after``, newest first, and how many in all.

    ``names``: the rater's and the child's names (the administrator's page); ``with_hidden``: the
    hidden ones too, with their words (the administrator's page); else they are left out.
    """
    where = [r.school_id == school_id, r.day >= first, r.day < after, r.comment.is_not(None)]
    if not with_hidden:
        where.append(r.hidden_at.is_(None))
    total = int(conn.execute(select(func.count()).select_from(meal_ratings).where(*where)).scalar_one())
    query = (
        select(r.id, r.day, r.period, r.stars, r.comment, r.rater_role, r.at, r.hidden_at, r.hidden_by)
        .where(*where)
        .order_by(r.day.desc(), r.at.desc(), r.id)
        .limit(limit)
        .offset(offset)
    )
    if names:
        query = _named(query)
    rows = conn.execute(query).all()
    menus: dict[tuple[date, str], list[str]] = {}
    if rows:
        menus = _menus(conn, school_id, min(x.day for x in rows), max(x.day for x in rows) + timedelta(days=1))
    return [_comment(x, names, menus) for x in rows], total


def _comment(row: Any, names: bool, menus: dict[tuple[date, str], list[str]]) -> Comment:
    named: dict[str, Any] = {}
    if names:
        named = {
            "rater": f"{row.rater_last} {row.rater_first}" if row.rater_last else None,
            "child": f"{row.child_last} {row.child_first}" if row.child_last else None,
            "child_class": row.child_class,
        }
    return Comment(
        row.id,
        row.day,
        row.period,
        int(row.stars),
        row.comment,
        row.rater_role,
        row.at,
        row.hidden_at,
        row.hidden_by,
        dishes=tuple(menus.get((row.day, row.period), ())),
        **named,
    )


def rating_rows(
    conn: Connection, school_id: str, first: date, after: date, *, names: bool, with_hidden: bool
) -> Iterator[Comment]:
    """Every rating from ``first`` to before ``after`` (with a comment or not), by day and period: the
    month's file. A hidden comment's words only ``with_hidden``."""
    query = (
        select(r.id, r.day, r.period, r.stars, r.comment, r.rater_role, r.at, r.hidden_at, r.hidden_by)
        .where(r.school_id == school_id, r.day >= first, r.day < after)
        .order_by(r.day, r.period, r.at, r.id)
    )
    if names:
        query = _named(query)
    menus = _menus(conn, school_id, first, after)
    for row in conn.execute(query).all():
        found = _comment(row, names, menus)
        if found.hidden_at is not None and not with_hidden:
            found = replace(found, comment=None)
        yield found


def ratings_trend(
    conn: Connection, school_id: str, month: date, months: int = 12
) -> list[tuple[date, float | None, int]]:
    """The ``months`` months up to ``month``'s, oldest first: each month's first day, mean stars and count."""
    firsts = [month.replace(day=1)]
    for _ in range(months - 1):
        firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
    # A month each, summed by the covering index in one round trip: no dialect's month function
    # needed, and no grouping by day of a big school's year (160,000 ratings).
    parts = [
        select(literal(n).label("n"), func.count().label("count"), func.sum(r.stars).label("total")).where(
            r.school_id == school_id, r.day >= first, r.day < month_after(first)
        )
        for n, first in enumerate(firsts)
    ]
    found = {int(row.n): (int(row.count), int(row.total or 0)) for row in conn.execute(union_all(*parts))}
    trend = []
    for n, first in enumerate(firsts):
        count, total = found.get(n, (0, 0))
        trend.append((first, total / count if count else None, count))
    return trend


def month_rating(conn: Connection, school_id: str, month: str) -> tuple[float | None, int]:
    """The ``YYYY-MM`` month's mean stars and number of ratings (hidden comments count: their stars stay)."""
    first = date.fromisoformat(f"{month}-01")
    total, count = conn.execute(
        select(func.coalesce(func.sum(r.stars), 0), func.count()).where(
            r.school_id == school_id, r.day >= first, r.day < month_after(first)
        )
    ).one()
    return (int(total) / int(count) if count else None), int(count)
