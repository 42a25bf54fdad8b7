"""What the school administrator's roster routes take and show.

Two views of a person (the Base/Public pattern of ``account_models``): :class:`PersonPublic` for
canteen staff, without IIN or contacts, and :class:`PersonAdmin` for the school's administrator,
with them. The route picks the class by role, so the fields are absent, not null, for staff. A
card is shown without its hash; the card number itself is never stored at all.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from cloud_api.api.schemas.accounts import PersonPublic
from shared.contract import CredentialKind

__all__ = [
    "AuditItem",
    "AuditPage",
    "CardAssign",
    "CardKind",
    "CardPublic",
    "CardReplace",
    "ImportResult",
    "PeoplePage",
    "PersonAdmin",
    "RefusedRow",
]

P = TypeVar("P", bound=PersonPublic)


# The credential kinds a school gives out: every ``CredentialKind`` but "manual", which is how canteen
# staff record a forgotten card, not something one can hold. Derived, so a new reader kind is one here too.
CardKind = StrEnum(  # type: ignore[misc]
    "CardKind", {kind.name: kind.value for kind in CredentialKind if kind is not CredentialKind.MANUAL}
)
CardKind.__doc__ = "A credential kind a school gives out (every kind but `manual`)."


_CARD_NUMBER = Field(
    min_length=1,
    max_length=256,
    pattern=r"^\S(.*\S)?$",
    description="The number (or QR payload) as the reader reports it; hashed with the school's key, never stored.",
    examples=["0A1B2C3D4E"],
)


class PersonAdmin(PersonPublic):
    """A person as the school's administrator sees them: with IIN, language and contacts."""

    iin: str
    language: str | None
    discount_percent: int | None
    phone: str | None
    email: str | None


class PeoplePage(BaseModel, Generic[P]):
    """One page of a school's people and how many match in all."""

    items: list[P]
    total: int = Field(description="How many people match the filters, on every page.")
    limit: int
    offset: int


class RefusedRow(BaseModel):
    """One cell of the upload that kept its row out: fix it in the file and upload it again."""

    row: int = Field(description="The row number as the spreadsheet shows it (the header is row 1).")
    column: str
    code: str = Field(examples=["iin_bad_check_digit"])
    message: str = Field(description="The reason, in the language of `Accept-Language`.")
    value: str


class ImportResult(BaseModel):
    """What an upload changed; the same file again changes nothing (all unchanged)."""

    created: int
    updated: int
    unchanged: int
    links_added: int = Field(description="Guardian-child links added.")
    links_removed: int = Field(description="Guardian-child links the file no longer lists, removed.")
    left: int = Field(0, description="Students and staff a complete export no longer lists, marked inactive.")
    departures_held: bool = Field(
        False, description="A complete export with refused rows: nobody was marked as left (import it again mended)."
    )
    version: int = Field(description="The school's roster version after the import.")
    refused: list[RefusedRow]


class CardAssign(BaseModel):
    """A card (or a QR credential) to give a student or staff member."""

    kind: CardKind
    card_number: str = _CARD_NUMBER


class CardReplace(BaseModel):
    """The new card of a replacement; its kind is the old card's unless given."""

    card_number: str = _CARD_NUMBER
    kind: CardKind | None = None


class CardPublic(BaseModel):
    """A card as shown: never its hash (nor its number, of which the cloud keeps the last four digits)."""

    id: UUID
    person_id: UUID
    kind: CredentialKind
    status: str = Field(description="active, blocked (lost or stolen) or replaced.")
    number_hint: str | None = Field(None, description="The number's last four digits (cards given since 0021).")
    status_reason: str | None = Field(None, description="Why it was blocked: lost, stolen, damaged or other.")
    updated_at: dt.datetime


class AuditItem(BaseModel):
    """One change in the audit journal (Order No. 456 §5)."""

    id: int
    at: dt.datetime
    actor: str = Field(description="`account:<id>`, `system` (the admin token) or a command-line user.")
    actor_login: str | None = Field(description="The login of an `account:<id>` actor.")
    action: str = Field(examples=["update"])
    entity: str = Field(examples=["person"])
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    """Journal entries, newest first; pass ``next_before`` as ``before`` for the next page."""

    items: list[AuditItem]
    next_before: int | None = Field(description="The `before` of the next page; null on the last page.")
