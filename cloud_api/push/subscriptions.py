"""A guardian's devices and what they want to hear. The caller owns the transaction.

A device's Web Push subscription is kept by its endpoint (the same endpoint again, with a renewed
key or under another account, replaces it); the notification settings are one row per account:
the language of notices (None: the roster's) and whether entries and exits, and meals, are wanted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, delete, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import notification_settings, push_subscriptions

__all__ = ["NoticeSettings", "forget_device", "notice_settings", "set_notice_settings", "subscribe_device"]


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    """What a guardian hears of, and in which language (None: the language the school's roster gives)."""

    language: str | None = None
    entries: bool = True
    meals: bool = True


def subscribe_device(
    conn: Connection,
    *,
    school_id: str,
    guardian_id: UUID,
    account_id: UUID,
    endpoint: str,
    p256dh: str,
    auth: str,
) -> UUID:
    """Keep a device's subscription (replacing the one of the same endpoint in the school); its id."""
    row = {
        "school_id": school_id,
        "guardian_id": guardian_id,
        "account_id": account_id,
        "endpoint": endpoint,
        "p256dh": p256dh,
        "auth": auth,
        "created_at": datetime.now(UTC),
    }
    stmt = dialect_insert(conn, push_subscriptions).values(id=uuid.uuid4(), **row)
    # The key's own columns are not set again: Citus refuses to "change" a row's distribution column.
    changed = {name: value for name, value in row.items() if name not in ("school_id", "endpoint")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["school_id", "endpoint"], set_=changed))
    found: UUID = conn.execute(
        select(push_subscriptions.c.id).where(
            push_subscriptions.c.school_id == school_id, push_subscriptions.c.endpoint == endpoint
        )
    ).scalar_one()
    return found


def forget_device(conn: Connection, school_id: str, guardian_id: UUID, endpoint: str) -> None:
    """Forget one of the guardian's own devices (another guardian's endpoint is left alone)."""
    conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.school_id == school_id,
            push_subscriptions.c.endpoint == endpoint,
            push_subscriptions.c.guardian_id == guardian_id,
        )
    )


def notice_settings(conn: Connection, account_id: UUID) -> NoticeSettings:
    """The account's settings; every notice in the roster's language until they are changed."""
    row = conn.execute(select(notification_settings).where(notification_settings.c.account_id == account_id)).first()
    if row is None:
        return NoticeSettings()
    return NoticeSettings(row.language, bool(row.entries), bool(row.meals))


def set_notice_settings(conn: Connection, account_id: UUID, settings: NoticeSettings) -> None:
    """Keep the account's settings."""
    values = {
        "language": settings.language,
        "entries": settings.entries,
        "meals": settings.meals,
        "updated_at": datetime.now(UTC),
    }
    stmt = dialect_insert(conn, notification_settings).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))
