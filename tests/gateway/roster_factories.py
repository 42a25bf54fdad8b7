"""A small school's roster as the cloud would send it, for the gateway's rules and sync tests."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from shared.contract import Category, CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import (
    Dish,
    MealPeriod,
    MealRules,
    PersonRole,
    RosterCredential,
    RosterDelta,
    RosterPerson,
    SetMeal,
)

__all__ = ["CARD_KEY", "DAY", "SCHOOL", "School", "at_local"]

SCHOOL = "s1"
CARD_KEY = b"school-card-key"
DAY = date(2026, 11, 24)  # a Tuesday


def at_local(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """An aware instant at a local time of ``day``."""
    return datetime.combine(day, time(hour, minute), LOCAL_TZ)


class School:
    """People with cards (card number = their name), a breakfast and a free lunch, plov for lunch."""

    def __init__(self) -> None:
        self.wallet_key: str | None = None  # the Social Wallet's QR key, as the cloud sends it
        self.people: dict[str, RosterPerson] = {}
        self.cards: list[RosterCredential] = []
        self.plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов", "en": "Plov"}, price_tiyn=70000)
        self.pancakes = Dish(
            id=uuid.uuid4(), names={"ru": "Блины"}, price_tiyn=40000, allergens=["gluten", "milk", "eggs"]
        )
        self.rules = MealRules(
            periods=[
                MealPeriod(name="breakfast", starts=time(8, 0), ends=time(9, 0)),
                MealPeriod(name="lunch", starts=time(12, 0), ends=time(14, 0)),
            ],
            free_periods=["lunch"],
        )
        self.menu = [
            SetMeal(day=DAY, period="lunch", dish_ids=[self.plov.id], price_tiyn=70000),
            SetMeal(day=DAY, period="breakfast", dish_ids=[self.pancakes.id], price_tiyn=40000),
        ]

    def add(self, card: str, *, blocked: bool = False, **fields: Any) -> RosterPerson:
        """A person owning card ``card`` (students with consent and a free meal unless told)."""
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "role": PersonRole.STUDENT,
            "display_name": f"{card} N.",
            "class_name": "3Б",
            "language": "ru",
            "consent": True,
            "meal_category": Category.FREE,
            **fields,
        }
        person = RosterPerson(**values)
        self.people[card] = person
        self.cards.append(
            RosterCredential(
                credential_hash=credential_hash(CARD_KEY, card),
                person_id=person.id,
                kind=CredentialKind.EM4100,
                blocked=blocked,
            )
        )
        return person

    def delta(self, version: int = 1) -> RosterDelta:
        """Everything, as a full snapshot at ``version``."""
        return RosterDelta(
            school_id=SCHOOL,
            since=0,
            version=version,
            full=True,
            people=list(self.people.values()),
            credentials=self.cards,
            meal_rules=self.rules,
            dishes=[self.plov, self.pancakes],
            menu=self.menu,
            wallet_public_key=self.wallet_key,
        )
