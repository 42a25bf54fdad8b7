"""A guardian's devices and what they want to hear (Web Push, RFC 8030/8292).

GET    /v1/push/vapid-public-key          the applicationServerKey for PushManager.subscribe
POST   /v1/me/push-subscriptions          a guardian's device subscribes (its PushSubscription JSON)
DELETE /v1/me/push-subscriptions?endpoint=  it unsubscribes
GET    /v1/me/notification-settings       language, entries and exits, meals
PUT    /v1/me/notification-settings
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import delete, select

from cloud_api.api.deps import AcceptLanguage, CurrentGuardian, EngineDep
from cloud_api.api.errors import coded_error
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import notification_settings, push_subscriptions
from cloud_api.push.keys import load_vapid_key
from shared.roster_contract import Language

__all__ = ["router"]

router = APIRouter(tags=["push"])


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
    entries: bool = Field(True, description="Entries and exits at the turnstile.")
    meals: bool = Field(True, description="Meals, and meals refused.")


@router.get("/v1/push/vapid-public-key", summary="The key browsers subscribe with")
def vapid_public_key(engine: EngineDep) -> dict[str, str]:
    """The deployment's VAPID public key (base64url): ``applicationServerKey`` for ``PushManager.subscribe``."""
    with engine.connect() as conn:
        key = load_vapid_key(conn)
    if key is None:
        raise coded_error(503, "push_not_ready")
    return {"public_key": key.public}


@router.post("/v1/me/push-subscriptions", status_code=201, summary="Subscribe a device")
def subscribe(body: SubscriptionIn, guardian: CurrentGuardian, engine: EngineDep) -> dict[str, Any]:
    """Keep a device's subscription; the same endpoint again (a renewed key, another account) replaces it."""
    account = guardian.principal.account
    assert account is not None  # a guardian is an account
    row = {
        "school_id": guardian.school_id,
        "guardian_id": guardian.person_id,
        "account_id": account.id,
        "endpoint": body.endpoint,
        "p256dh": body.keys.p256dh,
        "auth": body.keys.auth,
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        stmt = dialect_insert(conn, push_subscriptions).values(id=uuid.uuid4(), **row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["endpoint"], set_=row))
        found = conn.execute(
            select(push_subscriptions.c.id).where(push_subscriptions.c.endpoint == body.endpoint)
        ).scalar_one()
    return {"id": str(found)}


@router.delete("/v1/me/push-subscriptions", status_code=204, summary="Unsubscribe a device")
def unsubscribe(
    endpoint: Annotated[str, Query(max_length=1000)], guardian: CurrentGuardian, engine: EngineDep
) -> Response:
    """Forget the device (only one's own: another guardian's endpoint is left alone)."""
    with engine.begin() as conn:
        conn.execute(
            delete(push_subscriptions).where(
                push_subscriptions.c.endpoint == endpoint, push_subscriptions.c.guardian_id == guardian.person_id
            )
        )
    return Response(status_code=204)


@router.get("/v1/me/notification-settings", response_model=SettingsIO, summary="Notification settings")
def get_settings(guardian: CurrentGuardian, engine: EngineDep) -> SettingsIO:
    """What the guardian hears of, and in which language."""
    account = guardian.principal.account
    assert account is not None
    with engine.connect() as conn:
        row = conn.execute(
            select(notification_settings).where(notification_settings.c.account_id == account.id)
        ).first()
    if row is None:
        return SettingsIO()
    return SettingsIO(language=row.language, entries=row.entries, meals=row.meals)


@router.put("/v1/me/notification-settings", response_model=SettingsIO, summary="Change notification settings")
def put_settings(
    body: SettingsIO, guardian: CurrentGuardian, engine: EngineDep, accept_language: AcceptLanguage = None
) -> SettingsIO:
    """Change the language of notices, or stop entries and exits or meals."""
    account = guardian.principal.account
    assert account is not None
    values = {**body.model_dump(), "updated_at": datetime.now(UTC)}
    with engine.begin() as conn:
        stmt = dialect_insert(conn, notification_settings).values(account_id=account.id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))
    return body
