"""The report receivers' contract: how a report reaches the education authority or the school.

There is no published ministry contract, so this module is ours, in one place, to be swapped when
one is published. A delivery is ``POST {receiver}/v1/reports`` with a :class:`Delivery` body; the
receiver verifies the manifest's Ed25519 signature and every file against it
(:func:`cloud_api.reports.manifest.verify_files`), and only then answers ``201`` with a
:class:`Receipt`. A delivery counts as delivered only on that receipt (the receiver's confirmation
is the delivery); the same delivery sent again gets the same receipt, so retrying is always safe.
"""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DELIVERY_PATH", "Delivery", "Receipt", "decode_files", "encode_files"]

DELIVERY_PATH = "/v1/reports"


class Delivery(BaseModel):
    """One version of one report of one subject and month, with its files and signed manifest."""

    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(min_length=1, max_length=128, examples=["demo-school/2026-10/meals"])
    subject: str = Field(
        min_length=1, max_length=64, description="The school (meals, attendance), the region (region), KZ (country)."
    )
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])
    kind: str = Field(pattern=r"^(meals|attendance|region|country)$")
    version: int = Field(ge=1)
    manifest: str = Field(description="The canonical manifest JSON, base64.")
    signature: str = Field(description="Ed25519 signature of the manifest's bytes, base64.")
    files: dict[str, str] = Field(min_length=1, description="File name → content, base64.")


class Receipt(BaseModel):
    """The receiver's acknowledgement of a delivery: kept by the cloud as proof of delivery."""

    receipt_id: str
    report_id: str
    version: int
    received_at: datetime
    manifest_sha256: str


def encode_files(files: dict[str, bytes]) -> dict[str, str]:
    """Files as a delivery carries them."""
    return {name: base64.b64encode(data).decode() for name, data in files.items()}


def decode_files(files: dict[str, str]) -> dict[str, bytes]:
    """Files back from a delivery; ``ValueError`` on bad base64."""
    return {name: base64.b64decode(text, validate=True) for name, text in files.items()}
