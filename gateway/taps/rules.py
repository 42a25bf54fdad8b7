"""The school's rules at the edge: a tap judged from the synced roster, in memory, offline.

:class:`RosterPolicy` is the decision step once a roster has arrived (before that it answers as
:class:`~gateway.taps.policy.NoRosterPolicy`: let in, and say it was judged without a roster).

Turnstile: an unknown card, a blocked card or someone no longer on the roster is denied; a
student or staff member passes the way the reader faces. A student without a guardian's consent
(§33-1.1) passes too, but the event leaves without identity: no person, no card hash, a count.

Canteen: the meal period comes from the local time; free and discounted meals apply in the
school's free periods only (elsewhere the child pays), at most once per person, period and day,
across every terminal of the school; the day's set meal must hold none of the child's banned
allergens nor a dish of a kind the guardian forbids (denied, the allergens or kinds named); what
the family pays (a paid meal, or its share of a discounted one) may not take the day past the
guardian's limit, nor, in a prepaid school, past the balance. What was served today is remembered
as it is decided and rebuilt from the outbox at start-up (:meth:`RosterPolicy.remember`), so
neither a second terminal nor a restart serves twice; a meal whose event could not be recorded is
handed back (:meth:`RosterPolicy.release`).

The prepaid balance is the cloud's credits minus the charges, and the charges are counted twice
over: the cloud's count when it sent the person, and this gateway's own lifetime count
(:meth:`RosterPolicy.remember_charges`, kept on disk with the events). Every charge the cloud has
came from this gateway, so the larger of the two is the true one, offline or not, with no clock
or delivery state to reconcile.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from device_drivers.base import CardRead, Direction
from gateway.roster.store import RosterIndex
from gateway.taps.policy import UNKNOWN_READER, AccessPoint, NoRosterPolicy, Place, Reason, Verdict
from shared.contract import Category, Decision, EventKind, MealInfo
from shared.localtime import LOCAL_TZ
from shared.roster_contract import PersonRole, RosterPerson

__all__ = ["RosterPolicy", "ServedMeal"]

_UNKNOWN_CARD = Verdict(EventKind.DENIED, Decision.DENIED, Reason.UNKNOWN_CARD)
_BLOCKED = Verdict(EventKind.DENIED, Decision.DENIED, Reason.CARD_BLOCKED)
_INACTIVE = Verdict(EventKind.DENIED, Decision.DENIED, Reason.NOT_ON_ROSTER)


@dataclass(frozen=True, slots=True)
class ServedMeal:
    """A meal granted today, as the outbox remembers it: who, which day and period, what it cost."""

    person_id: str
    day: date
    period: str
    category: Category
    price_tiyn: int


class RosterPolicy:
    """Decides from a :class:`RosterIndex`; :attr:`index` is swapped whole when a delta arrives."""

    def __init__(self, index: RosterIndex | None = None, *, language: str = "kk") -> None:
        self.index = index or RosterIndex()
        self.language = language
        self._without_roster = NoRosterPolicy()
        self._served: set[tuple[str, date, str]] = set()
        self._spent: defaultdict[tuple[str, date], int] = defaultdict(int)
        # Every meal served, paid ones too (``_served`` holds the once-a-period ones only): the counts.
        self._eaten: Counter[tuple[str, date, str]] = Counter()
        self._charged: defaultdict[str, int] = defaultdict(int)  # lifetime, per person: never pruned
        self._day: date | None = None  # the newest day counted; older days are forgotten

    def remember(self, meals: Iterable[ServedMeal]) -> None:
        """Take in meals already served (read back from the outbox at start-up)."""
        for meal in meals:
            # Their charges are in the lifetime count already (remember_charges): not twice.
            self._count(meal.person_id, meal.day, meal.period, meal.category, meal.price_tiyn, charge=False)

    def remember_charges(self, charged: Mapping[str, int]) -> None:
        """Take in what this gateway charged each person, ever (read back from the outbox at start-up)."""
        self._charged = defaultdict(int, charged)

    def release(self, verdict: Verdict) -> None:
        """Hand back what a granted meal counted when its event was not recorded, or was a repeat.

        Without it a failed commit would leave the child served (and charged) until a restart.
        """
        meal, person, day = verdict.meal, verdict.local_person, verdict.local_day
        if verdict.decision is not Decision.GRANTED or meal is None or person is None or day is None:
            return
        key = (person, date.fromisoformat(day), meal.period)
        if meal.category is not Category.PAID:
            self._served.discard(key)
        self._eaten[key] -= 1
        if self._eaten[key] <= 0:
            del self._eaten[key]
        if meal.price_tiyn:
            self._spent[key[:2]] -= meal.price_tiyn
            self._charged[person] -= meal.price_tiyn

    def decide(self, read: CardRead, point: AccessPoint | None, credential_hash: str) -> Verdict:
        """Judge one read at ``point`` by the roster held now."""
        index = self.index
        if point is None or not index.synced:
            return self._without_roster.decide(read, point, credential_hash)
        card = index.cards.get(credential_hash)
        if card is None:
            return _UNKNOWN_CARD
        if card.blocked:
            return _BLOCKED
        return self._judge(index, card.person_id, point, read.at)

    def decide_person(
        self, person_id: str, point: AccessPoint | None, at: datetime, dishes: Sequence[UUID] | None = None
    ) -> Verdict:
        """Judge a person named by staff rather than by a card (a child who forgot it).

        The same rules as a tap: once per period, allergen bans, the guardian's limit. ``dishes``
        are what staff serve instead of the set meal (an allowed alternative for a child whose
        ban the set meal breaks): judged, priced and recorded in its place. Without a roster
        there is nobody to name, so it is refused rather than granted blind.
        """
        index = self.index
        if point is None:
            return UNKNOWN_READER
        if not index.synced:
            return _INACTIVE
        return self._judge(index, person_id, point, at, dishes)

    def served_count(self, day: date, period: str) -> int:
        """How many people were served a meal in ``period`` of ``day``, whatever they paid."""
        return sum(1 for _, d, p in self._eaten if d == day and p == period)

    def balance_of(self, person: RosterPerson) -> int:
        """What a person's prepaid balance holds now, by the larger count of charges."""
        return person.credited_tiyn - max(person.charged_tiyn, self._charged[str(person.id)])

    def _judge(
        self, index: RosterIndex, person_id: str, point: AccessPoint, at: datetime, dishes: Sequence[UUID] | None = None
    ) -> Verdict:
        # The one path a card and a manual entry share once the person is known.
        person = index.people.get(person_id)
        if person is None or not person.active:
            return _INACTIVE
        if point.place is Place.CANTEEN:
            return self._meal(index, person, at, dishes)
        return self._passage(person, point.direction, at)

    def _passage(self, person: RosterPerson, direction: Direction | None, at: datetime) -> Verdict:
        kind = EventKind.EXIT if direction is Direction.EXIT else EventKind.ENTRY
        anonymous = person.role is PersonRole.STUDENT and not person.consent
        return Verdict(
            kind,
            Decision.GRANTED,
            Reason.NO_CONSENT if anonymous else Reason.ON_ROSTER,
            person_id=None if anonymous else str(person.id),
            unlock=direction,
            anonymous=anonymous,
            # Who passed, and on which local day, even without consent: the roll call of an
            # evacuation (:mod:`gateway.pages.roll_call`) names everyone in the building.
            local_person=str(person.id),
            local_day=at.astimezone(LOCAL_TZ).date().isoformat(),
            **self._who(person),
        )

    def _meal(
        self, index: RosterIndex, person: RosterPerson, at: datetime, instead: Sequence[UUID] | None = None
    ) -> Verdict:
        local = at.astimezone(LOCAL_TZ)
        day, who = local.date(), self._who(person)
        period = index.period_at(local.time())
        if period is None:
            return self._meal_denied(person, Reason.NO_MEAL_PERIOD, who)
        category = person.meal_category
        if category is None:
            return self._meal_denied(person, Reason.NOT_ELIGIBLE, who)
        if category is not Category.PAID and not index.free_in(period.name):
            category = Category.PAID  # outside the free periods a free-meal child pays like anyone
        if (str(person.id), day, period.name) in self._served:
            return self._meal_denied(person, Reason.ALREADY_SERVED, who)
        set_meal = index.menu.get((day, period.name))
        if instead is not None:
            if not instead or any(d not in index.dishes for d in instead):
                return self._meal_denied(person, Reason.UNKNOWN_DISH, who)
            dishes = [index.dishes[d] for d in instead]
            full_price = sum(dish.price_tiyn for dish in dishes)
        else:
            if set_meal is None and category is Category.PAID:
                return self._meal_denied(person, Reason.NO_SET_MEAL, who)
            dishes = [index.dishes[d] for d in set_meal.dish_ids if d in index.dishes] if set_meal else []
            full_price = set_meal.price_tiyn if set_meal else 0
        banned = sorted({a.value for dish in dishes for a in dish.allergens} & {a.value for a in person.allergen_bans})
        if banned:
            return self._meal_denied(person, Reason.ALLERGEN_CONFLICT, who, detail=tuple(banned))
        kinds = sorted({dish.category.value for dish in dishes} & {c.value for c in person.category_bans})
        if kinds:
            return self._meal_denied(person, Reason.CATEGORY_BANNED, who, detail=tuple(kinds))
        price = _charged(full_price, category, person.discount_percent)
        limit = person.daily_limit_tiyn
        if price and limit is not None and self._spent[(str(person.id), day)] + price > limit:
            return self._meal_denied(person, Reason.DAILY_LIMIT, who)
        if price and index.rules is not None and index.rules.prepaid and price > self.balance_of(person):
            return self._meal_denied(person, Reason.INSUFFICIENT_BALANCE, who)
        self._count(str(person.id), day, period.name, category, price)
        language = person.language or self.language
        meal = MealInfo(
            period=period.name,
            category=category,
            dishes=[dish.names.get(language) or next(iter(dish.names.values())) for dish in dishes],
            price_tiyn=price,
        )
        anonymous = not person.consent and person.role is PersonRole.STUDENT
        return Verdict(
            EventKind.MEAL,
            Decision.GRANTED,
            Reason.ON_ROSTER if not anonymous else Reason.NO_CONSENT,
            person_id=None if anonymous else str(person.id),
            meal=meal,
            anonymous=anonymous,
            local_person=str(person.id),
            local_day=day.isoformat(),
            **who,
        )

    def _count(
        self, person_id: str, day: date, period: str, category: Category, price: int, *, charge: bool = True
    ) -> None:
        if self._day is None or day > self._day:
            # A new day: yesterday's meals no longer limit anyone, and a gateway runs for months.
            self._served = {key for key in self._served if key[1] >= day}
            self._spent = defaultdict(int, {key: v for key, v in self._spent.items() if key[1] >= day})
            self._eaten = Counter({key: n for key, n in self._eaten.items() if key[1] >= day})
            self._day = day
        self._eaten[(person_id, day, period)] += 1
        # Free and discounted meals are once a period; what the family pays counts against the
        # day's limit and the balance.
        if category is not Category.PAID:
            self._served.add((person_id, day, period))
        if price:
            self._spent[(person_id, day)] += price
            if charge:
                self._charged[person_id] += price

    def _meal_denied(
        self, person: RosterPerson, reason: Reason, who: dict[str, str | None], detail: tuple[str, ...] = ()
    ) -> Verdict:
        anonymous = not person.consent and person.role is PersonRole.STUDENT
        return Verdict(
            EventKind.DENIED,
            Decision.DENIED,
            reason,
            person_id=None if anonymous else str(person.id),
            anonymous=anonymous,
            detail=detail,
            **who,
        )

    def _who(self, person: RosterPerson) -> dict[str, str | None]:
        return {"person_name": person.display_name, "class_name": person.class_name, "language": person.language}


def _charged(full_price: int, category: Category, discount_percent: int | None) -> int:
    if category is Category.FREE:
        return 0
    if category is Category.DISCOUNTED:
        # The state pays its share; the family pays the rest, rounded in the family's favour.
        return full_price * (100 - (discount_percent or 0)) // 100
    return full_price
