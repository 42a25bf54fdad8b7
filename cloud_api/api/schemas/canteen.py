"""What the canteen routes take and give: dishes, the day's menu, bans, limits and balances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contract import Identifier
from shared.roster_contract import Allergen, Dish, Language, Tiyn

__all__ = [
    "BalancePublic",
    "BansIn",
    "BansPublic",
    "CreditIn",
    "DishIn",
    "DishVersion",
    "LedgerEntry",
    "LimitIn",
    "MenuEntry",
    "PinIn",
    "SetMealIn",
]


class DishIn(BaseModel):
    """A dish as the school admin enters it; the photo is uploaded on its own."""

    names: dict[Language, str] = Field(min_length=1, examples=[{"kk": "Палау", "ru": "Плов"}])
    price_tiyn: Tiyn = Field(examples=[65000])
    allergens: list[Allergen] = Field(default_factory=list)


class DishVersion(BaseModel):
    """One version of a dish: what it was called and cost from when, and who changed it."""

    at: datetime
    actor: str
    price_tiyn: int
    names: dict[str, str]


class SetMealIn(BaseModel):
    """The day's set meal of one period."""

    dish_ids: list[UUID] = Field(min_length=1, max_length=20)
    price_tiyn: Tiyn | None = Field(None, description="The full price; the dishes' sum when left out.")


class MenuEntry(BaseModel):
    """A set meal with its dishes spelled out, as parents and staff read the menu."""

    day: date
    period: Identifier
    price_tiyn: int
    dishes: list[Dish]


class BansIn(BaseModel):
    """The allergens a guardian forbids for their child (§33-1.7); an empty list lifts every ban."""

    allergens: list[Allergen] = Field(max_length=len(Allergen))


class BansPublic(BaseModel):
    """The bans in force for one child."""

    child_id: UUID
    allergens: list[Allergen]


class LimitIn(BaseModel):
    """The most a child's paid meals may cost in a day; null lifts the limit."""

    limit_tiyn: Tiyn | None = Field(examples=[150000])


class CreditIn(BaseModel):
    """Money the school received for a child (a top-up), or an admin's correction of either sign."""

    amount_tiyn: int = Field(examples=[500000])
    kind: Literal["top_up", "correction"] = "top_up"
    note: str | None = Field(None, max_length=200)


class LedgerEntry(BaseModel):
    """One line of a child's statement."""

    kind: str
    amount_tiyn: int
    note: str | None
    at: datetime


class BalancePublic(BaseModel):
    """A child's prepaid balance, the guardian's daily limit, and the newest entries."""

    child_id: UUID
    balance_tiyn: int
    credited_tiyn: int
    charged_tiyn: int
    daily_limit_tiyn: int | None
    entries: list[LedgerEntry] = Field(default_factory=list)


class PinIn(BaseModel):
    """A canteen staff member's PIN for the canteen screen (4 to 8 digits); null withdraws it."""

    pin: str | None = Field(pattern=r"^[0-9]{4,8}$", examples=["4821"])
