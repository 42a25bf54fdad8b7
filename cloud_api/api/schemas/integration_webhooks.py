"""What an outside system sends to and reads from ``/v1/integrations/webhooks``: its own subscriptions.

The Public models never carry a secret; only :class:`WebhookSubscriptionWithSecret`, the answer of
the request that makes a subscription or rotates its secret, does, once.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "WebhookKind",
    "WebhookSubscriptionCreate",
    "WebhookSubscriptionPublic",
    "WebhookSubscriptionWithSecret",
    "WebhookSubscriptionsPublic",
]

WebhookKind = Literal["entry", "exit", "meal", "roster"]
_KINDS_WORDS = (
    "What to hear of: `entry` and `exit` (scope attendance:read), `meal` (meals:read), `roster` "
    "changes (roster:read). The token must carry the scope of each."
)


class WebhookSubscriptionCreate(BaseModel):
    """A new subscription: a school within the system's reach, its HTTPS receiver, the kinds of events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"school_id": "demo-school", "url": "https://diary.example/hooks", "kinds": ["entry", "exit"]}]
        },
    )

    school_id: str = Field(min_length=1, max_length=64, description="A school of `GET /v1/integrations/schools`.")
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where the cloud posts: https, a public address (no user or password in it).",
    )
    kinds: list[WebhookKind] = Field(min_length=1, max_length=4, description=_KINDS_WORDS)


class WebhookSubscriptionPublic(BaseModel):
    """One subscription of the system, as it stands (never its secret)."""

    id: UUID
    school_id: str
    url: str
    kinds: list[WebhookKind]
    state: Literal["active", "paused"]
    paused_reason: str | None = Field(
        description="Why it is paused: `by_client` (the system itself), `by_staff` (an administrator), "
        "`client_revoked`, `school_outside`, or the last failure that went on for a day "
        "(`http_503`, `timeout`, `connect_error`, `url_…`)."
    )
    paused_at: dt.datetime | None
    failures: int = Field(description="Failed attempts in a row (0 after a delivery or a resume).")
    last_error: str | None
    last_delivered_at: dt.datetime | None
    pending: int = Field(description="Webhooks waiting to be delivered, sent in order.")
    oldest_pending_at: dt.datetime | None
    previous_secret_until: dt.datetime | None = Field(
        description="After a rotation: until when the previous secret signs beside the new one."
    )
    created_at: dt.datetime


class WebhookSubscriptionWithSecret(WebhookSubscriptionPublic):
    """A subscription just made, or its secret just rotated: the Standard Webhooks secret, shown this once."""

    secret: str = Field(
        pattern=r"^whsec_[A-Za-z0-9+/=]+$",
        description="Verify every webhook's `webhook-signature` with it (Standard Webhooks); it is not shown again.",
    )


class WebhookSubscriptionsPublic(BaseModel):
    """Every subscription of the system (not removed), oldest first."""

    subscriptions: list[WebhookSubscriptionPublic]
