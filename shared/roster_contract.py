"""The cloud → gateway roster contract: what a gateway needs to decide as the school would, offline.

The gateway pulls ``GET /v1/sync/roster?since=V`` signed exactly like an ingest batch
(:func:`shared.contract.sign` over method ``GET``, the path *with* its query string, the
timestamp and the SHA-256 of the empty body). The cloud answers a :class:`RosterDelta`:

- ``since == 0`` (a new gateway) or a ``since`` the cloud can no longer serve as a delta: a full
  snapshot, ``full=True``; the gateway replaces everything it holds with it.
- otherwise what changed after ``since``: people, credentials, dishes and set meals are upserts
  keyed by their ids; a person or credential that must go away comes back with ``active=False``
  or ``blocked=True`` (history stays in the cloud, a gateway needs only the answer).
- ``meal_rules`` is ``None`` when the rules did not change.
- the gateway says which contract it reads (``&contract=N``, :data:`ROSTER_CONTRACT`); the fields of
  a later contract (:data:`CONTRACT_FIELDS`) stay off its wire: a gateway of an earlier release
  refuses a field it does not know, and does not ask.

The gateway applies a delta in one transaction and then holds ``version``; a delta whose ``since``
is not the version it holds is refused. The cloud decides each person's meal category from the
school's rules (grades 1–4 free, social categories free or discounted, the rest paid), so the
gateway only applies it.

This module depends on pydantic and the contract only, like :mod:`shared.contract`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.contract import Category, CredentialKindName, Identifier
from shared.languages import Language
from shared.localtime import LOCAL_TZ

__all__ = [
    "CONTRACT_FIELDS",
    "PHOTOS_PATH",
    "ROSTER_CONTRACT",
    "ROSTER_PATH",
    "Allergen",
    "Dish",
    "DishCategory",
    "Language",
    "MealPeriod",
    "MealRules",
    "PersonRole",
    "RosterCredential",
    "RosterDelta",
    "RosterPerson",
    "SetMeal",
    "fields_after",
]

ROSTER_PATH = "/v1/sync/roster"
# The contract a gateway reads, asked for as ``&contract=N``; 1 when none is asked. What each later
# one added goes only to a gateway that asks for it (a gateway of an earlier release refuses a field
# it does not know):
#   2: a dish's kind and the kinds of dish a guardian forbids (``contract`` itself too);
#   3: the Social Wallet's dynamic QR: its public key, each child's voucher and consent to the QR.
ROSTER_CONTRACT = 3
CONTRACT_FIELDS: dict[int, dict[str, Any]] = {
    2: {"contract": True, "dishes": {"__all__": {"category"}}, "people": {"__all__": {"category_bans"}}},
    3: {"wallet_public_key": True, "people": {"__all__": {"qr_consent", "wallet_voucher_id"}}},
}


def fields_after(contract: int) -> dict[str, Any]:
    """The fields a gateway reading ``contract`` does not know, as pydantic's ``exclude`` of a delta."""
    exclude: dict[str, Any] = {}
    for added, fields in CONTRACT_FIELDS.items():
        if added <= contract:
            continue
        for name, part in fields.items():
            if part is True:
                exclude[name] = True
            else:
                held = exclude.setdefault(name, {"__all__": set()})
                held["__all__"] = held["__all__"] | part["__all__"]
    return exclude


PHOTOS_PATH = "/v1/sync/photos"  # + "/{sha256}": a photo the roster names, signed like the roster pull
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

# Strict: an amount is a number, never ``false`` (which would read as 0 and make a dish free).
Tiyn = Annotated[int, Field(ge=0, strict=True, description="An amount in tiyn (1/100 tenge).")]
CredentialHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_LEAP_SECOND = re.compile(r"^(\d{2}:\d{2}):60")
# Any day after Kazakhstan's last change of offset (UTC+5 since 2024-03-01): the zone's offset now.
_AFTER_LAST_CHANGE = date(2024, 3, 1)


def _no_leap_second(value: object) -> object:
    # RFC 3339 allows 23:59:60; a school's timetable has no use for it.
    return _LEAP_SECOND.sub(r"\1:59", value) if isinstance(value, str) else value


def _local_wall_time(value: time) -> time:
    # A time given with an offset (RFC 3339 ``full-time``, "12:00:00+05:00", "07:00:00Z") is the
    # school's wall time at that instant; without one it is the school's wall time already.
    if value.tzinfo is None:
        return value
    return datetime.combine(_AFTER_LAST_CHANGE, value).astimezone(LOCAL_TZ).time()


# A time of the school day, in local time (Asia/Almaty); an offset, if given, is converted.
LocalTime = Annotated[time, BeforeValidator(_no_leap_second), AfterValidator(_local_wall_time)]


class Allergen(StrEnum):
    """The 14 allergen groups of EU Regulation 1169/2011, Annex II (what menus label)."""

    GLUTEN = "gluten"
    CRUSTACEANS = "crustaceans"
    EGGS = "eggs"
    FISH = "fish"
    PEANUTS = "peanuts"
    SOYBEANS = "soybeans"
    MILK = "milk"
    NUTS = "nuts"
    CELERY = "celery"
    MUSTARD = "mustard"
    SESAME = "sesame"
    SULPHITES = "sulphites"
    LUPIN = "lupin"
    MOLLUSCS = "molluscs"


class DishCategory(StrEnum):
    """What kind of food a dish is: a guardian may forbid a kind for their child (``category_bans``)."""

    MAIN = "main"
    DRINK = "drink"
    PASTRY = "pastry"
    SWEETS = "sweets"
    FRUIT = "fruit"


class PersonRole(StrEnum):
    """Who a card belongs to, as the turnstile and the canteen see it."""

    STUDENT = "student"
    STAFF = "staff"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RosterPerson(_Frozen):
    """A student or staff member as the gateway needs them: no IIN, no contact details."""

    id: UUID
    role: PersonRole
    display_name: str = Field(min_length=1, max_length=120, description="As the canteen screen shows it.")
    class_name: str | None = Field(default=None, max_length=8, examples=["3Б"])
    language: Language | None = None
    active: bool = True
    consent: bool = Field(
        default=False,
        description="A guardian's consent to attendance tracking is in force (§33-1.1). Without it the "
        "child still passes, and the event leaves the gateway without identity.",
    )
    qr_consent: bool = Field(
        default=False,
        description="A guardian's consent to identifying the child by the Social Wallet's QR code; ``consent`` "
        "is the card's. Each method is judged by its own: a tap by a method without consent passes as one "
        "without consent does. Contract 3.",
    )
    wallet_voucher_id: UUID | None = Field(
        default=None,
        description="The child's Social Wallet voucher, as its dynamic QR code names it (shared.wallet_qr). "
        "Contract 3.",
    )
    meal_category: Category | None = Field(default=None, description="None: no school meals (most staff).")
    discount_percent: int | None = Field(default=None, ge=1, le=99, description="For 'discounted' only.")
    allergen_bans: list[Allergen] = Field(default_factory=list, description="Set by a guardian (§33-1.7).")
    # A default, so that a roster of an older cloud (and people stored before) still read it; a cloud
    # sends it only to a gateway that asks for ROSTER_CONTRACT 2 or later (an older one refuses it).
    category_bans: list[DishCategory] = Field(
        default_factory=list, description="Kinds of dish a guardian forbids (sweets, pastry, ...)."
    )
    daily_limit_tiyn: Tiyn | None = Field(default=None, description="Paid meals: a guardian's daily limit.")
    credited_tiyn: int = Field(
        default=0, description="Prepaid: every credit ever made to the child's balance (top-ups, corrections)."
    )
    charged_tiyn: int = Field(
        default=0,
        description="Prepaid: every meal charge the cloud had received when it sent this row. The "
        "balance is credited minus charged; a gateway counts its own charges too and takes the larger.",
    )
    photo_sha256: Sha256 | None = Field(
        default=None, description=f"The person's photo for the canteen's visual check: GET {PHOTOS_PATH}/<sha256>."
    )
    canteen_pin_hash: str | None = Field(
        default=None,
        max_length=256,
        description="Canteen staff only: the PBKDF2 hash of the PIN that signs them in on the canteen screen.",
    )

    @model_validator(mode="after")
    def _discount_only_when_discounted(self) -> RosterPerson:
        if (self.meal_category is Category.DISCOUNTED) != (self.discount_percent is not None):
            raise ValueError("discount_percent is given exactly when meal_category is 'discounted'")
        return self


class RosterCredential(_Frozen):
    """A card or QR code, by the keyed hash the gateway computes from what the reader read."""

    credential_hash: CredentialHash
    person_id: UUID
    kind: CredentialKindName
    blocked: bool = False


class MealPeriod(_Frozen):
    """A meal period of the school day, in local time (Asia/Almaty)."""

    name: Identifier = Field(examples=["lunch"])
    starts: LocalTime
    ends: LocalTime

    @model_validator(mode="after")
    def _in_order(self) -> MealPeriod:
        if not self.starts < self.ends:
            raise ValueError("a meal period ends after it starts")
        return self


class MealRules(_Frozen):
    """The school's canteen rules: its periods (no two overlap) and the free meals' periods."""

    periods: list[MealPeriod] = Field(min_length=1)
    free_periods: list[Identifier] = Field(
        default_factory=lambda: ["lunch"], description="Periods in which 'free' and 'discounted' apply."
    )
    prepaid: bool = Field(
        default=False,
        strict=True,
        description="What a child pays is charged to a prepaid balance: a meal the balance cannot cover is "
        "refused. Off: the canteen takes payment itself, and only the guardian's daily limit applies.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MealRules:
        spans = sorted((p.starts, p.ends, p.name) for p in self.periods)
        for (_, end, name), (start, _, following) in pairwise(spans):
            if start < end:
                raise ValueError(f"meal periods {name!r} and {following!r} overlap")
        names = {p.name for p in self.periods}
        if len(names) != len(self.periods):
            raise ValueError("meal period names are unique")
        if unknown := set(self.free_periods) - names:
            raise ValueError(f"free_periods names unknown periods: {sorted(unknown)}")
        return self


class Dish(_Frozen):
    """A dish of the canteen (§33-1.3): its name in each language, price, allergens and photo."""

    id: UUID
    names: dict[Language, str] = Field(min_length=1, description="At least one of kk, ru, en.")
    price_tiyn: Tiyn
    allergens: list[Allergen] = Field(default_factory=list)
    photo_url: str | None = Field(default=None, max_length=500)
    # A default, so that a gateway of an older release (and dishes stored before) still read it.
    category: DishCategory = Field(default=DishCategory.MAIN, description="main, drink, pastry, sweets or fruit.")


class SetMeal(_Frozen):
    """The day's set meal of one period: what a tap at the canteen serves."""

    day: date
    period: Identifier
    dish_ids: list[UUID] = Field(min_length=1, max_length=20)
    price_tiyn: Tiyn = Field(description="The full price; a discounted or free category pays less.")


class RosterDelta(_Frozen):
    """What changed in a school's roster after version ``since`` (everything when ``full``)."""

    school_id: Identifier
    since: int = Field(ge=0)
    version: int = Field(ge=0)
    full: bool
    people: list[RosterPerson] = Field(default_factory=list)
    credentials: list[RosterCredential] = Field(default_factory=list)
    meal_rules: MealRules | None = None
    dishes: list[Dish] = Field(default_factory=list)
    menu: list[SetMeal] = Field(default_factory=list, description="Set meals from today on.")
    wallet_public_key: str | None = Field(
        default=None,
        max_length=64,
        description="The Social Wallet's Ed25519 public key (base64 of the raw 32 bytes) that its dynamic QR codes "
        "verify with; None: unchanged (a delta) or none (a full snapshot). Contract 3.",
    )
    contract: int = Field(
        default=1,
        ge=1,
        description="The contract this answer follows (the one asked for, or less from an older cloud). Sent "
        "only to a gateway that asked for 2 or later.",
    )

    @model_validator(mode="after")
    def _versions(self) -> RosterDelta:
        if self.version < self.since:
            raise ValueError("version is at least since")
        return self
