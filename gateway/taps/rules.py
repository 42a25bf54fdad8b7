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

A Social Wallet QR code (:mod:`shared.wallet_qr`, a scanned text that starts ``SWQR1.``) is
verified here, offline: its signature by the Wallet's key, its time window, that it was never used
(the codes used are kept on disk until they expire, :mod:`gateway.taps.wallet_codes`), and whose
voucher it is; a code that fails is refused with its reason (``qr_bad_signature``, ``qr_stale``,
``qr_replayed``, ``qr_unknown_voucher``, ...), and a good one is judged as the child's card would
be. Consent is per method: a tap by QR code goes by the family's consent to the QR code, a card's
by the consent to the card.

The prepaid balance is the cloud's credits minus the charges, and the charges are counted twice
over: the cloud's count when it sent the person, and this gateway's own lifetime count
(:meth:`RosterPolicy.remember_charges`, kept on disk with the events). Every charge the cloud has
came from this gateway, so the larger of the two is the true one, offline or not, with no clock
or delivery state to reconcile.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from device_drivers.base import CardRead, Direction
from gateway.roster.store import RosterIndex
from gateway.taps.policy import UNKNOWN_READER, AccessPoint, NoRosterPolicy, Place, Reason, Verdict
from shared.contract import Category, CredentialKind, Decision, EventKind, MealInfo
from shared.localtime import LOCAL_TZ
from shared.roster_contract import PersonRole, RosterPerson
from shared.wallet_qr import InvalidCode, is_wallet_code, verify

__all__ = ["RosterPolicy", "ServedMeal"]

_UNKNOWN_CARD = Verdict(EventKind.DENIED, Decision.DENIED, Reason.UNKNOWN_CARD)
_BLOCKED = Verdict(EventKind.DENIED, Decision.DENIED, Reason.CARD_BLOCKED)
_INACTIVE = Verdict(EventKind.DENIED, Decision.DENIED, Reason.NOT_ON_ROSTER)
_QR_REFUSED = {
    reason: Verdict(EventKind.DENIED, Decision.DENIED, reason)
    for reason in (
        Reason.QR_MALFORMED,
        Reason.QR_BAD_SIGNATURE,
        Reason.QR_STALE,
        Reason.QR_REPLAYED,
        Reason.QR_UNKNOWN_VOUCHER,
        Reason.QR_NO_KEY,
        Reason.QR_NO_CONSENT,
    )
}


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
        # Social Wallet codes used up, by key, with when each expires (rebuilt from disk at start-up).
        self._codes: dict[str, int] = {}
        self._codes_pruned = 0.0
        self.qr_refusals: Counter[str] = Counter()  # by reason, for the metrics

    def remember_codes(self, codes: Iterable[tuple[str, int]]) -> None:
        """Take in the Wallet codes used before and not yet expired (read back from disk at start-up)."""
        self._codes.update(codes)

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
        if verdict.wallet_code is not None:
            self._codes.pop(verdict.wallet_code[0], None)  # not recorded: the code was not used
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
        if read.kind is CredentialKind.QR and is_wallet_code(read.credential):
            return self._wallet_code(index, read, point)
        card = index.cards.get(credential_hash)
        if card is None:
            return _UNKNOWN_CARD
        if card.blocked:
            return _BLOCKED
        return self._judge(index, card.person_id, point, read.at)

    def _wallet_code(self, index: RosterIndex, read: CardRead, point: AccessPoint) -> Verdict:
        # A Social Wallet code: verified offline, used once, then judged as the child's card would be.
        if index.wallet_key is None:
            return self._qr_refused(Reason.QR_NO_KEY)
        now = read.at.timestamp()
        try:
            code = verify(index.wallet_key, read.credential, now)
        except InvalidCode as exc:
            return self._qr_refused(Reason(exc.problem.value))
        person_id = index.vouchers.get(code.voucher_id)
        if person_id is None:
            return self._qr_refused(Reason.QR_UNKNOWN_VOUCHER)
        if now - self._codes_pruned > 60:
            self._codes = {key: expires for key, expires in self._codes.items() if expires > now}
            self._codes_pruned = now
        if code.key in self._codes:
            return self._qr_refused(Reason.QR_REPLAYED)
        person = index.people.get(person_id)
        if person is not None and _anonymous(person, by_qr=True):
            # The family said no to this way of naming the child. Unlike a card (the child's key to
            # the building, which lets them in unnamed), the voucher code is nothing but a name: a
            # free meal served on it unnamed could be neither counted once nor passed to the Wallet.
            return self._qr_refused(Reason.QR_NO_CONSENT)
        self._codes[code.key] = code.expires_at
        verdict = self._judge(index, person_id, point, read.at, by_qr=True)
        return replace(verdict, wallet_code=(code.key, code.expires_at))

    def _qr_refused(self, reason: Reason) -> Verdict:
        self.qr_refusals[reason.value] += 1
        return _QR_REFUSED[reason]

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
        self,
        index: RosterIndex,
        person_id: str,
        point: AccessPoint,
        at: datetime,
        dishes: Sequence[UUID] | None = None,
        *,
        by_qr: bool = False,
    ) -> Verdict:
        # The one path a card, a Wallet code and a manual entry share once the person is known.
        person = index.people.get(person_id)
        if person is None or not person.active:
            return _INACTIVE
        anonymous = _anonymous(person, by_qr)
        if point.place is Place.CANTEEN:
            return self._meal(index, person, at, dishes, anonymous)
        return self._passage(person, point.direction, at, anonymous)

    def _passage(self, person: RosterPerson, direction: Direction | None, at: datetime, anonymous: bool) -> Verdict:
        kind = EventKind.EXIT if direction is Direction.EXIT else EventKind.ENTRY
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
        self,
        index: RosterIndex,
        person: RosterPerson,
        at: datetime,
        instead: Sequence[UUID] | None,
        anonymous: bool,
    ) -> Verdict:
        local = at.astimezone(LOCAL_TZ)
        day, who = local.date(), self._who(person)

        def denied(reason: Reason, detail: tuple[str, ...] = ()) -> Verdict:
            return self._meal_denied(person, reason, who, anonymous, detail)

        period = index.period_at(local.time())
        if period is None:
            return denied(Reason.NO_MEAL_PERIOD)
        category = person.meal_category
        if category is None:
            return denied(Reason.NOT_ELIGIBLE)
        if category is not Category.PAID and not index.free_in(period.name):
            category = Category.PAID  # outside the free periods a free-meal child pays like anyone
        if (str(person.id), day, period.name) in self._served:
            return denied(Reason.ALREADY_SERVED)
        set_meal = index.menu.get((day, period.name))
        if instead is not None:
            if not instead or any(d not in index.dishes for d in instead):
                return denied(Reason.UNKNOWN_DISH)
            dishes = [index.dishes[d] for d in instead]
            full_price = sum(dish.price_tiyn for dish in dishes)
        else:
            if set_meal is None and category is Category.PAID:
                return denied(Reason.NO_SET_MEAL)
            dishes = [index.dishes[d] for d in set_meal.dish_ids if d in index.dishes] if set_meal else []
            full_price = set_meal.price_tiyn if set_meal else 0
        banned = sorted({a.value for dish in dishes for a in dish.allergens} & {a.value for a in person.allergen_bans})
        if banned:
            return denied(Reason.ALLERGEN_CONFLICT, tuple(banned))
        kinds = sorted({dish.category.value for dish in dishes} & {c.value for c in person.category_bans})
        if kinds:
            return denied(Reason.CATEGORY_BANNED, tuple(kinds))
        price = _charged(full_price, category, person.discount_percent)
        limit = person.daily_limit_tiyn
        if price and limit is not None and self._spent[(str(person.id), day)] + price > limit:
            return denied(Reason.DAILY_LIMIT)
        if price and index.rules is not None and index.rules.prepaid and price > self.balance_of(person):
            return denied(Reason.INSUFFICIENT_BALANCE)
        self._count(str(person.id), day, period.name, category, price)
        language = person.language or self.language
        meal = MealInfo(
            period=period.name,
            category=category,
            dishes=[dish.names.get(language) or next(iter(dish.names.values())) for dish in dishes],
            price_tiyn=price,
        )
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
        self,
        person: RosterPerson,
        reason: Reason,
        who: dict[str, str | None],
        anonymous: bool,
        detail: tuple[str, ...] = (),
    ) -> Verdict:
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


def _anonymous(person: RosterPerson, by_qr: bool) -> bool:
    """Whether a student's event leaves without identity: no consent to the method they used.

    Consent is per method (a family may consent to the Wallet's QR code and not to the card, or
    the other way round), and a tap by a method without consent is judged as any tap without
    consent: the child passes or is served, and the event carries no identity. A manual entry
    by staff goes by the card's consent, the one that covers tracking at the school.
    """
    if person.role is not PersonRole.STUDENT:
        return False
    return not (person.qr_consent if by_qr else person.consent)


def _charged(full_price: int, category: Category, discount_percent: int | None) -> int:
    if category is Category.FREE:
        return 0
    if category is Category.DISCOUNTED:
        # The state pays its share; the family pays the rest, rounded in the family's favour.
        return full_price * (100 - (discount_percent or 0)) // 100
    return full_price
