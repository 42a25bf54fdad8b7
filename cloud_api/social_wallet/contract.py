"""The cloud ↔ Social Wallet wire contract (Order No. 456 §33-1.4, §33-2), ours in one place.

The operator publishes no contract, so this module defines it; when one is published, this is
the one module to change. It depends on pydantic, ``cryptography`` and the standard library only.
:func:`json_schema` is the document to hand the operator (committed as ``schema.json``).

One request per meal::

    POST {wallet}/v1/meal-registrations
    Idempotency-Key: <record_id>
    Content-Type: application/json
    <MealRegistration>

and its answers:

    201 WalletReceipt   accepted now
    200 WalletReceipt   accepted before (a repeat): the very same receipt
    422 WalletRejection the Wallet will not take this record, with a reason code
    429 / 5xx           not now; ``Retry-After`` (seconds) says when to come back

A receipt is the key's final answer: the same record id always gets the same receipt back. A
refusal is not: the school corrects its cause (a child's IIN) and sends the record again under the
same id, with the corrected body, and the Wallet judges it afresh.

A receipt counts only when its Ed25519 signature verifies under the Wallet's public key that the
deployment is configured with: it is the proof of delivery (a record counts as delivered only
once the receiver confirms it), kept verifiable.
The signature covers :func:`receipt_signing_bytes`: the canonical JSON of the receipt's fields.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REGISTRATIONS_PATH",
    "SCHEMA_FILE",
    "MealRegistration",
    "RejectReason",
    "WalletCategory",
    "WalletReceipt",
    "WalletRejection",
    "json_schema",
    "load_public_key",
    "public_key_text",
    "receipt_signing_bytes",
    "schema_text",
    "sign_receipt",
    "verify_receipt",
]

REGISTRATIONS_PATH = "/v1/meal-registrations"
# The schema as committed for the operator; regenerate with ``python -m cloud_api.social_wallet.contract``.
SCHEMA_FILE = Path(__file__).with_name("schema.json")
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WalletCategory(StrEnum):
    """How the state pays for the meal: all of it, or a share."""

    FREE = "free"
    DISCOUNTED = "discounted"


class RejectReason(StrEnum):
    """Why the Wallet refuses a record; a code it sends that is not here is shown as ``other``."""

    UNKNOWN_STUDENT = "unknown_student"  # no child with this IIN in the Wallet
    NOT_ELIGIBLE = "not_eligible"  # the child has no free or discounted meal by the Wallet's register
    ALREADY_REGISTERED = "already_registered"  # another record for this child's day and period
    UNKNOWN_SCHOOL = "unknown_school"
    INVALID_RECORD = "invalid_record"  # the record does not follow this contract
    OTHER = "other"


class MealRegistration(BaseModel):
    """One free or discounted meal served to one student: what the cloud sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: UUID = Field(description="Stable id of the record (the meal event's UUIDv7); the idempotency key.")
    student_iin: str = Field(pattern=r"^\d{12}$", description="The student's IIN.")
    school_id: str = Field(min_length=1, max_length=64)
    served_at: AwareDatetime = Field(description="Local date and time of the meal with its UTC offset.")
    meal_date: date = Field(description="The local day (Asia/Almaty) the meal counts for.")
    period: str = Field(min_length=1, max_length=64, examples=["lunch"])
    dishes: list[str] = Field(default_factory=list, max_length=20, description="Names of the dishes served.")
    category: WalletCategory
    full_price_tiyn: int = Field(ge=0, description="The meal's full price, in tiyn (1/100 tenge).")
    state_share_tiyn: int = Field(ge=0, description="What the state pays of it, in tiyn.")

    @model_validator(mode="after")
    def _share_within_price(self) -> MealRegistration:
        if self.state_share_tiyn > self.full_price_tiyn:
            raise ValueError("the state's share cannot exceed the full price")
        return self


class WalletReceipt(BaseModel):
    """The Wallet's signed acknowledgement of one record."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    record_id: UUID
    receipt_id: str = Field(min_length=1, max_length=128)
    accepted_at: AwareDatetime
    signature: str = Field(
        description="Ed25519 over receipt_signing_bytes(record_id, receipt_id, accepted_at), base64."
    )
    public_key: str = Field(description="The signing key: raw 32 bytes, base64.")


class WalletRejection(BaseModel):
    """The Wallet's refusal of one record."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    record_id: UUID
    reason: str = Field(min_length=1, max_length=64, description="A RejectReason code.")
    message: str = Field(default="", max_length=500)


def receipt_signing_bytes(record_id: UUID, receipt_id: str, accepted_at: datetime) -> bytes:
    """The canonical JSON a receipt's signature covers: sorted keys, no white space, UTC with ``Z``.

    Built from the parsed values, not the bytes received, so that both sides sign the same text
    however a JSON library writes the instant.
    """
    instant = accepted_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = {"accepted_at": instant, "receipt_id": receipt_id, "record_id": str(record_id)}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    """A public key as the contract writes it: raw 32 bytes, base64."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 raw form or a PEM; ``ValueError`` for anything else."""
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the Social Wallet's key must be Ed25519")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not an Ed25519 public key (base64 of 32 bytes, or PEM)") from exc


def sign_receipt(key: Ed25519PrivateKey, record_id: UUID, receipt_id: str, accepted_at: datetime) -> WalletReceipt:
    """A receipt signed with ``key`` (the Wallet's side; the simulator uses it)."""
    signature = key.sign(receipt_signing_bytes(record_id, receipt_id, accepted_at))
    return WalletReceipt(
        record_id=record_id,
        receipt_id=receipt_id,
        accepted_at=accepted_at,
        signature=base64.b64encode(signature).decode(),
        public_key=public_key_text(key.public_key()),
    )


def verify_receipt(key: Ed25519PublicKey, receipt: WalletReceipt) -> bool:
    """Whether ``receipt`` was signed by ``key`` (the key it names must be ``key`` as well)."""
    if receipt.public_key != public_key_text(key):
        return False  # signed by someone else's key: proves nothing, however well it verifies
    try:
        signature = base64.b64decode(receipt.signature, validate=True)
        key.verify(signature, receipt_signing_bytes(receipt.record_id, receipt.receipt_id, receipt.accepted_at))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def json_schema() -> dict[str, Any]:
    """The contract as one JSON Schema document: the request, its answers and the reason codes."""
    models: dict[str, type[BaseModel]] = {
        "MealRegistration": MealRegistration,
        "WalletReceipt": WalletReceipt,
        "WalletRejection": WalletRejection,
    }
    definitions: dict[str, Any] = {}
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(schema.pop("$defs", {}))
        definitions[name] = schema
    definitions["RejectReason"] = {"type": "string", "enum": [r.value for r in RejectReason]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mektep-gate.kz/schemas/social-wallet/v1.json",
        "title": "Mektep Gate → Social Wallet: meal registrations and receipts",
        "description": (
            f"POST {REGISTRATIONS_PATH} with a MealRegistration and the header {IDEMPOTENCY_HEADER}: "
            "<record_id>. 201/200: WalletReceipt; 422: WalletRejection; 429/5xx: retry (Retry-After). "
            "The receipt's signature is Ed25519 over the canonical JSON (sorted keys, no white space) of "
            '{"accepted_at": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "receipt_id": …, "record_id": …}.'
        ),
        "$defs": dict(sorted(definitions.items())),
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in models],
    }


def schema_text() -> str:
    """:func:`json_schema` as the committed ``schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
