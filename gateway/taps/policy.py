"""The decision step: a card at an access point → grant or deny, and what to record.

Policy knows nothing of bytes or ports. It sees a :class:`~device_drivers.base.CardRead` and the
:class:`AccessPoint` it came from and answers with a :class:`Verdict`. The school's rules (roster,
consent, free meals, allergen and kind-of-dish bans) are :class:`gateway.taps.rules.RosterPolicy`; the pipeline does not
change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from device_drivers.base import CardRead, Direction
from shared.contract import Decision, EventKind, MealInfo

__all__ = ["UNKNOWN_READER", "AccessPoint", "NoRosterPolicy", "Place", "Policy", "Reason", "Verdict"]


class Place(StrEnum):
    """What an access point is for."""

    TURNSTILE = "turnstile"
    CANTEEN = "canteen"


class Reason(StrEnum):
    """Why the gateway decided as it did: stable codes, translated for display elsewhere."""

    NO_ROSTER = "no_roster"  # granted: nothing to judge by yet
    UNKNOWN_READER = "unknown_reader"
    DEVICE_STATUS = "device_status"
    MANUAL = "manual"
    POLICY_ERROR = "policy_error"  # denied: the decision step failed (a bug, logged and counted)
    ON_ROSTER = "on_roster"  # granted: the roster says so
    NO_CONSENT = "no_consent"  # granted without identity: no guardian's consent to tracking (§33-1.1)
    UNKNOWN_CARD = "unknown_card"
    CARD_BLOCKED = "card_blocked"
    NOT_ON_ROSTER = "not_on_roster"  # the card's owner left the school (inactive)
    NO_MEAL_PERIOD = "no_meal_period"
    NOT_ELIGIBLE = "not_eligible"  # no school meals for this person
    ALREADY_SERVED = "already_served"
    NO_SET_MEAL = "no_set_meal"
    ALLERGEN_CONFLICT = "allergen_conflict"
    CATEGORY_BANNED = "category_banned"  # the set meal holds a kind of dish the guardian forbids
    DAILY_LIMIT = "daily_limit"
    INSUFFICIENT_BALANCE = "insufficient_balance"  # a prepaid school: the balance cannot cover the meal
    UNKNOWN_DISH = "unknown_dish"  # staff chose a dish the roster does not hold
    # The Social Wallet's dynamic QR code (shared.wallet_qr): refused, and why.
    QR_MALFORMED = "qr_malformed"  # claims to be a Wallet code and is not one
    QR_BAD_SIGNATURE = "qr_bad_signature"  # forged, altered, or signed by another key
    QR_STALE = "qr_stale"  # outside the time window: a screenshot, or a clock far off
    QR_REPLAYED = "qr_replayed"  # this very code was used before
    QR_UNKNOWN_VOUCHER = "qr_unknown_voucher"  # a genuine code of a voucher no one here holds
    QR_NO_KEY = "qr_no_key"  # the cloud has sent no Wallet key yet: nothing to verify with
    QR_NO_CONSENT = "qr_no_consent"  # the family did not consent to the QR code (the card may still do)


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """A reader or terminal as the policy sees it: where it is and which way it lets people."""

    device_id: str
    place: Place
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy decided for one read."""

    kind: EventKind
    decision: Decision
    reason: str
    person_id: str | None = None
    judged_without_roster: bool = False
    meal: MealInfo | None = None
    unlock: Direction | None = None
    # For the person at the reader, not for the record: who the roster says this is, and the
    # language their answer is shown in (None: the school's language).
    person_name: str | None = None
    class_name: str | None = None
    language: str | None = None
    # The event leaves without identity (no person, no card hash): no consent to tracking.
    anonymous: bool = False
    # What the reader (and the event) is told beyond the reason: the banned allergens or kinds of
    # dish found in the set meal, as codes.
    detail: tuple[str, ...] = ()
    # Kept on the gateway only (never sent): today's meals survive a restart, and the roll call
    # knows who passed today.
    local_person: str | None = None
    local_day: str | None = None
    # A Social Wallet code this read used up (its key, and when it expires): remembered on disk
    # with the event, so that neither a second scan nor a restart accepts it again.
    wallet_code: tuple[str, int] | None = None

    @property
    def granted(self) -> bool:
        """True when the person may pass or be served."""
        return self.decision is Decision.GRANTED


class Policy(Protocol):
    """Decides on one read; must be fast (it runs on the tap-to-grant path) and never block."""

    def decide(self, read: CardRead, point: AccessPoint | None, credential_hash: str) -> Verdict: ...

    def release(self, verdict: Verdict) -> None:
        """Forget what ``verdict`` counted: its event was not recorded, or repeated an earlier one."""


class NoRosterPolicy:
    """A gateway that has never synced a roster: a known reader grants, and says so.

    It refuses nothing it cannot judge: every card at a known reader is let in (or served) and
    the event is marked ``judged_without_roster`` so that the cloud can judge it later.
    """

    def __init__(self) -> None:
        # The answer depends on the access point alone: made once per point, not once per tap.
        self._verdicts: dict[AccessPoint, Verdict] = {}

    def decide(self, read: CardRead, point: AccessPoint | None, credential_hash: str) -> Verdict:
        """Grant at a known access point, deny (and record) at an unknown one."""
        if point is None:
            return UNKNOWN_READER
        verdict = self._verdicts.get(point)
        if verdict is None:
            verdict = self._verdicts[point] = _verdict_without_roster(point)
        return verdict

    def release(self, verdict: Verdict) -> None:
        """Nothing to hand back: without a roster nothing is counted."""


UNKNOWN_READER = Verdict(EventKind.DENIED, Decision.DENIED, Reason.UNKNOWN_READER)


def _verdict_without_roster(point: AccessPoint) -> Verdict:
    if point.place is Place.CANTEEN:
        return Verdict(EventKind.MEAL, Decision.GRANTED, Reason.NO_ROSTER, judged_without_roster=True)
    kind = EventKind.EXIT if point.direction is Direction.EXIT else EventKind.ENTRY
    return Verdict(kind, Decision.GRANTED, Reason.NO_ROSTER, judged_without_roster=True, unlock=point.direction)
