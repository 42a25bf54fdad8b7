"""What the push routes take and give: a device's subscription, a guardian's notification settings."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from shared.languages import Language

__all__ = ["SettingsIO", "SubscriptionIn", "SubscriptionKeys", "SubscriptionPublic", "VapidKeyPublic"]


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class SubscriptionKeys(BaseModel):
    """The device's ECDH public key (P-256, uncompressed) and its 16-byte auth secret, base64url."""

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        try:
            raw = _b64(value)
        except (binascii.Error, ValueError):
            raise ValueError("not base64url") from None
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("not an uncompressed P-256 point")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        try:
            raw = _b64(value)
        except (binascii.Error, ValueError):
            raise ValueError("not base64url") from None
        if len(raw) != 16:
            raise ValueError("an auth secret is 16 bytes")
        return value


class SubscriptionIn(BaseModel):
    """What ``PushSubscription.toJSON()`` gives in the browser."""

    endpoint: str = Field(max_length=1000, pattern=r"^https?://")
    keys: SubscriptionKeys


class SettingsIO(BaseModel):
    """A guardian's notification settings."""

    language: Language | None = Field(None, description="None: the language of the school's roster.")
    entries: bool = Field(True, strict=True, description="Entries and exits at the turnstile.")
    meals: bool = Field(True, strict=True, description="Meals, and meals refused.")


class SubscriptionPublic(BaseModel):
    """A device kept for Web Push."""

    id: UUID


class VapidKeyPublic(BaseModel):
    """The key browsers subscribe with."""

    public_key: str = Field(description="The deployment's VAPID public key, base64url (`applicationServerKey`).")
