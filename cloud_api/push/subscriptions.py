"""A guardian's devices and what they want to hear. The caller owns the transaction.

A device's Web Push subscription is kept by its endpoint (the same endpoint again, with a renewed
key or under another account, replaces it); an account has at most :data:`MAX_DEVICES`, and an
endpoint must pass the deployment's :class:`~cloud_api.push.endpoints.EndpointPolicy` (checked
before the transaction: it may resolve a name). The notification settings are one row per account:
the language of notices (None: the roster's) and whether entries and exits, and meals, are wanted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, delete, func, select

from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import PUSH_ENDPOINTS_REFUSED
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import notification_settings, push_subscriptions, staff_push_subscriptions
from cloud_api.push.endpoints import EndpointPolicy

__all__ = [
    "MAX_DEVICES",
    "Device",
    "NoticeSettings",
    "StaffDevice",
    "check_endpoint",
    "devices_of",
    "forget_device",
    "forget_device_by_id",
    "forget_staff_device",
    "forget_staff_endpoint",
    "notice_settings",
    "set_notice_language",
    "set_notice_settings",
    "staff_devices_of",
    "subscribe_device",
    "subscribe_staff_device",
]

# Devices one account may have notified: a family's phones, tablets and computers, not a fan-out.
MAX_DEVICES = 10


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    """What a guardian hears of, and in which language (None: the language the school's roster gives)."""

    language: str | None = None
    entries: bool = True
    meals: bool = True
    money: bool = True  # a low balance
    absences: bool = True  # not arrived by the start of the day, left before its end


@dataclass(frozen=True, slots=True)
class Device:
    """One of an account's subscribed devices, as the settings page lists it."""

    id: UUID
    endpoint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StaffDevice:
    """One of a staff account's devices that hear its alerts, as the account page lists it."""

    endpoint: str
    created_at: datetime


def check_endpoint(policy: EndpointPolicy, endpoint: str) -> None:
    """``push_endpoint_not_allowed`` unless the cloud may post to ``endpoint`` (may resolve a name: call it
    outside a transaction)."""
    problem = policy.problem(endpoint)
    if problem is not None:
        PUSH_ENDPOINTS_REFUSED.labels("subscribe", problem.value).inc()
        raise DomainError(
            "push_endpoint_not_allowed",
            f"the endpoint is refused: {problem.value}",
            errors=[("body.endpoint", "push_endpoint_not_allowed")],
        )


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
    """Keep a device's subscription (replacing the one of the same endpoint in the school); its id.

    ``too_many_devices`` when the account has :data:`MAX_DEVICES` others already (the same endpoint
    again is the same device, not a new one).
    """
    others = conn.execute(
        select(func.count())
        .select_from(push_subscriptions)
        .where(
            push_subscriptions.c.school_id == school_id,
            push_subscriptions.c.account_id == account_id,
            push_subscriptions.c.endpoint != endpoint,
        )
    ).scalar_one()
    if others >= MAX_DEVICES:
        raise DomainError("too_many_devices", f"the account has {others} devices already", limit=MAX_DEVICES)
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


def devices_of(conn: Connection, school_id: str, account_id: UUID) -> list[Device]:
    """The account's devices, the newest first."""
    rows = conn.execute(
        select(push_subscriptions.c.id, push_subscriptions.c.endpoint, push_subscriptions.c.created_at)
        .where(push_subscriptions.c.school_id == school_id, push_subscriptions.c.account_id == account_id)
        .order_by(push_subscriptions.c.created_at.desc(), push_subscriptions.c.id)
    ).all()
    return [Device(r.id, r.endpoint, r.created_at) for r in rows]


def forget_device_by_id(conn: Connection, school_id: str, account_id: UUID, device_id: UUID) -> None:
    """Forget one of the account's devices, as the settings page names it (another account's is left alone)."""
    conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.school_id == school_id,
            push_subscriptions.c.id == device_id,
            push_subscriptions.c.account_id == account_id,
        )
    )


def notice_settings(conn: Connection, account_id: UUID) -> NoticeSettings:
    """The account's settings; every notice in the roster's language until they are changed."""
    row = conn.execute(select(notification_settings).where(notification_settings.c.account_id == account_id)).first()
    if row is None:
        return NoticeSettings()
    return NoticeSettings(row.language, bool(row.entries), bool(row.meals), bool(row.money), bool(row.absences))


def set_notice_settings(conn: Connection, account_id: UUID, settings: NoticeSettings) -> None:
    """Keep the account's settings."""
    values = {
        "language": settings.language,
        "entries": settings.entries,
        "meals": settings.meals,
        "money": settings.money,
        "absences": settings.absences,
        "updated_at": datetime.now(UTC),
    }
    stmt = dialect_insert(conn, notification_settings).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))


def set_notice_language(conn: Connection, account_id: UUID, language: str) -> None:
    """Change only the language of the account's notices (a staff member's alerts): the rest is kept."""
    set_notice_settings(conn, account_id, replace(notice_settings(conn, account_id), language=language))


def staff_devices_of(conn: Connection, account_id: UUID) -> list[StaffDevice]:
    """The devices a staff account subscribed for the alerts, the oldest first."""
    table = staff_push_subscriptions
    rows = conn.execute(
        select(table.c.endpoint, table.c.created_at)
        .where(table.c.account_id == account_id)
        .order_by(table.c.created_at, table.c.endpoint)
    )
    return [StaffDevice(r.endpoint, r.created_at) for r in rows]


def subscribe_staff_device(conn: Connection, account_id: UUID, endpoint: str, p256dh: str, auth: str) -> None:
    """Keep a staff account's device for the alerts (the same endpoint again replaces its keys).

    ``too_many_devices`` past :data:`MAX_DEVICES`, as for a guardian's.
    """
    others = conn.execute(
        select(func.count())
        .select_from(staff_push_subscriptions)
        .where(staff_push_subscriptions.c.account_id == account_id, staff_push_subscriptions.c.endpoint != endpoint)
    ).scalar_one()
    if others >= MAX_DEVICES:
        raise DomainError("too_many_devices", f"the account has {others} devices already", limit=MAX_DEVICES)
    keys = {"p256dh": p256dh, "auth": auth, "created_at": datetime.now(UTC)}
    stmt = dialect_insert(conn, staff_push_subscriptions).values(account_id=account_id, endpoint=endpoint, **keys)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id", "endpoint"], set_=keys))


def forget_staff_device(conn: Connection, account_id: UUID, endpoint: str) -> None:
    """Forget one of the staff account's devices."""
    conn.execute(
        delete(staff_push_subscriptions).where(
            staff_push_subscriptions.c.account_id == account_id, staff_push_subscriptions.c.endpoint == endpoint
        )
    )


def forget_staff_endpoint(conn: Connection, endpoint: str) -> None:
    """Forget a staff device its push service no longer knows (whoever's it was)."""
    conn.execute(delete(staff_push_subscriptions).where(staff_push_subscriptions.c.endpoint == endpoint))
