"""What the canteen routes take and give: dishes, the day's menu, bans, limits and balances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from cloud_api.core.formulas import starts_like_a_formula
from cloud_api.services.menus import MenuDay
from cloud_api.services.prepaid import MAX_CREDIT_TIYN, Balance
from shared.contract import Identifier
from shared.roster_contract import Allergen, Dish, DishCategory, Language, Tiyn

__all__ = [
    "MAX_CREDIT_TIYN",
    "BalancePublic",
    "BansIn",
    "BansPublic",
    "CorrectionIn",
    "CreditIn",
    "DishIn",
    "DishVersion",
    "LedgerEntry",
    "LimitIn",
    "MenuEntry",
    "PinIn",
    "SchoolDay",
    "SetMealIn",
    "TopUpIn",
    "balance_public",
]

# Any calendar day: the menu of a far year is empty, never an error.
SchoolDay = Annotated[date, Field(examples=["2026-11-20"])]


def _not_a_formula(text: str) -> str:
    if starts_like_a_formula(text):
        raise PydanticCustomError("starts_like_a_formula", "begins like a spreadsheet formula")
    return text


# A dish's name in one language: never one a spreadsheet would run as a formula (the reports' CSV
# lists dishes), so it may not begin with =, +, -, @, a tab or a carriage return. The schema says
# so with a pattern; the check is ours, so that the refusal names its reason (``starts_like_a_formula``).
DishName = Annotated[
    str,
    Field(min_length=1, max_length=120, json_schema_extra={"pattern": "^[^=+\\-@\\t\\r]"}),
    AfterValidator(_not_a_formula),
]


class DishIn(BaseModel):
    """A dish as the school admin enters it; the photo is uploaded on its own."""

    names: dict[Language, DishName] = Field(min_length=1, examples=[{"kk": "Палау", "ru": "Плов"}])
    price_tiyn: Tiyn = Field(examples=[65000])
    allergens: list[Allergen] = Field(default_factory=list)
    category: DishCategory = DishCategory.MAIN


class DishVersion(BaseModel):
    """One version of a dish: what it was called and cost from when, and who changed it."""

    at: datetime
    actor: str
    price_tiyn: int
    names: dict[str, str]
    category: DishCategory = DishCategory.MAIN


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

    @classmethod
    def of(cls, entry: MenuDay) -> MenuEntry:
        """The menu entry of a planned or listed set meal."""
        meal = entry.meal
        return cls(day=meal.day, period=meal.period, price_tiyn=meal.price_tiyn, dishes=entry.dishes)


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


class TopUpIn(BaseModel):
    """Money the school received for a child: a positive amount."""

    kind: Literal["top_up"] = "top_up"
    amount_tiyn: int = Field(strict=True, ge=1, le=MAX_CREDIT_TIYN, examples=[500000])
    note: str | None = Field(None, max_length=200)


class CorrectionIn(BaseModel):
    """An administrator's correction of a balance, of either sign, never zero."""

    kind: Literal["correction"]
    amount_tiyn: int = Field(
        strict=True, ge=-MAX_CREDIT_TIYN, le=MAX_CREDIT_TIYN, json_schema_extra={"not": {"const": 0}}
    )
    note: str | None = Field(None, max_length=200)


def _credit_kind(value: Any) -> str:
    kind = value.get("kind", "top_up") if isinstance(value, dict) else getattr(value, "kind", "top_up")
    return kind if kind in ("top_up", "correction") else "top_up"


# A top-up (the default kind) or a correction: the schema says which amounts each may have.
CreditIn = Annotated[
    Annotated[TopUpIn, Tag("top_up")] | Annotated[CorrectionIn, Tag("correction")], Discriminator(_credit_kind)
]


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


def balance_public(child_id: UUID, balance: Balance) -> BalancePublic:
    """A child's balance as the API shows it."""
    account = balance.account
    return BalancePublic(
        child_id=child_id,
        balance_tiyn=account.balance_tiyn,
        credited_tiyn=account.credited_tiyn,
        charged_tiyn=account.charged_tiyn,
        daily_limit_tiyn=balance.daily_limit_tiyn,
        entries=[LedgerEntry(**entry) for entry in balance.entries],
    )


class PinIn(BaseModel):
    """A canteen staff member's PIN for the canteen screen (4 to 8 digits); null withdraws it."""

    pin: str | None = Field(pattern=r"^[0-9]{4,8}$", examples=["4821"])
