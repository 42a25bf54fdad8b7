"""Webhook subscriptions: an integration client hears of one school's events at a URL of its own.

A subscription belongs to one integration client (:mod:`cloud_api.integrations.clients`) and one
school within its reach. It names the kinds it wants (:data:`KINDS`), each needing a scope of the
client (:data:`SCOPE_OF`: entries and exits ``attendance:read``, meals ``meals:read``, roster
changes ``roster:read``). Its Standard Webhooks secret (``whsec_`` and base64) is shown once, when
it is made or rotated; after a rotation the previous secret signs every delivery too, beside the new
one, until :data:`ROTATION_OVERLAP` has passed, so the receiver can switch without losing a message.

States: ``active`` (delivered to), ``paused`` (by staff, or by the worker after failures went on
for long: deliveries are kept and sent in order after :func:`resume`), ``removed`` (its waiting
deliveries are cancelled). Every change is journalled in the school's journal; no secret ever is.
The caller owns the transaction.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, func, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import webhook_deliveries, webhook_subscriptions
from cloud_api.integrations.clients import get_client, may_serve_school
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "KINDS",
    "ROTATION_OVERLAP",
    "SCOPE_OF",
    "State",
    "Subscription",
    "get_subscription",
    "list_subscriptions",
    "new_secret",
    "pause",
    "remove",
    "resume",
    "rotate_secret",
    "subscribe",
]

KINDS = ("entry", "exit", "meal", "roster")
SCOPE_OF = {"entry": "attendance:read", "exit": "attendance:read", "meal": "meals:read", "roster": "roster:read"}
ROTATION_OVERLAP = timedelta(hours=24)
_SECRET_BYTES = 32  # the Standard Webhooks spec asks for 24 to 64


class State:
    """Where a subscription stands."""

    ACTIVE = "active"
    PAUSED = "paused"
    REMOVED = "removed"


@dataclass(frozen=True)
class Subscription:
    """One subscription as the office and the API show it (never its secrets)."""

    id: UUID
    school_id: str
    client_id: str
    url: str
    kinds: tuple[str, ...]
    state: str
    paused_reason: str | None
    paused_at: datetime | None
    paused_by: str | None
    failures: int
    failing_since: datetime | None
    last_error: str | None
    last_attempt_at: datetime | None
    last_delivered_at: datetime | None
    previous_secret_until: datetime | None
    created_by: str
    created_at: datetime
    pending: int = 0  # deliveries waiting
    oldest_pending_at: datetime | None = None


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _record(row: Any, pending: int = 0, oldest: datetime | None = None) -> Subscription:
    return Subscription(
        id=row.id,
        school_id=row.school_id,
        client_id=row.client_id,
        url=row.url,
        kinds=tuple(row.kinds),
        state=row.state,
        paused_reason=row.paused_reason,
        paused_at=row.paused_at,
        paused_by=row.paused_by,
        failures=row.failures,
        failing_since=row.failing_since,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        last_delivered_at=row.last_delivered_at,
        previous_secret_until=row.previous_secret_until,
        created_by=row.created_by,
        created_at=row.created_at,
        pending=pending,
        oldest_pending_at=oldest,
    )


def _public(sub: Subscription) -> dict[str, Any]:
    return {"client_id": sub.client_id, "url": sub.url, "kinds": list(sub.kinds), "state": sub.state}


def subscribe(
    conn: Connection,
    *,
    client_id: str,
    school_id: str,
    url: str,
    kinds: Iterable[str],
    actor: str,
    now: datetime,
    policy: ReceiverPolicy,
) -> tuple[Subscription, str]:
    """Subscribe ``client_id`` to ``school_id``'s ``kinds`` at ``url``; the subscription and its secret.

    The secret is never shown again. Raises :class:`DomainError` naming each field at fault: an
    unknown or revoked client (``webhook_client_unknown``), a school outside its reach
    (``webhook_school_outside``), no kind or an unknown one (``webhook_kinds_invalid``), a kind
    whose scope the client lacks (``webhook_scope_missing``), a URL the cloud will not post to
    (``webhook_url_<problem>``: ``malformed``, ``not_https``, ``private_address``, ``unresolved``).
    """
    errors: list[tuple[str, str]] = []
    client = get_client(conn, client_id)
    if client is None or not client.active:
        raise DomainError("webhook_client_unknown", f"no active integration client {client_id!r}")
    if not may_serve_school(conn, client, school_id):
        errors.append(("school_id", "webhook_school_outside"))
    given = set(kinds)
    wanted = sorted(given, key=KINDS.index) if given <= set(KINDS) else None
    if not wanted:
        errors.append(("kinds", "webhook_kinds_invalid"))
    elif any(SCOPE_OF[kind] not in client.scopes for kind in wanted):
        errors.append(("kinds", "webhook_scope_missing"))
    url = url.strip()
    if problem := policy.problem(url):
        errors.append(("url", f"webhook_url_{problem}"))
    if errors:
        raise DomainError(errors[0][1], f"webhook subscription refused: {errors}", errors=errors)
    secret = new_secret()
    subscription_id = UUID(str(uuid_utils.uuid7()))
    conn.execute(
        insert(webhook_subscriptions).values(
            school_id=school_id,
            id=subscription_id,
            client_id=client_id,
            url=url,
            kinds=wanted,
            secret=secret,
            state=State.ACTIVE,
            due_at=now,
            failures=0,
            created_by=actor,
            created_at=now,
        )
    )
    sub = get_subscription(conn, school_id, subscription_id)
    assert sub is not None
    write_audit(
        conn, school_id, actor, now, [AuditEntry("create", "webhook_subscription", str(sub.id), None, _public(sub))]
    )
    return sub, secret


def get_subscription(conn: Connection, school_id: str, subscription_id: UUID) -> Subscription | None:
    """The subscription (not removed), or None."""
    row = conn.execute(
        select(webhook_subscriptions).where(
            webhook_subscriptions.c.school_id == school_id,
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.state != State.REMOVED,
        )
    ).first()
    return None if row is None else _record(row)


def list_subscriptions(
    conn: Connection, *, client_id: str | None = None, school_id: str | None = None
) -> list[Subscription]:
    """The subscriptions of a client, of a school, or of a client at a school (not removed), oldest first,
    each with how many deliveries wait and since when."""
    s, d = webhook_subscriptions, webhook_deliveries
    query = select(s).where(s.c.state != State.REMOVED).order_by(s.c.created_at, s.c.id)
    if client_id is not None:
        query = query.where(s.c.client_id == client_id)
    if school_id is not None:
        query = query.where(s.c.school_id == school_id)
    rows = conn.execute(query).all()
    if not rows:
        return []
    waiting: dict[tuple[str, UUID], tuple[int, datetime | None]] = {}
    for school in {r.school_id for r in rows}:
        counted = conn.execute(
            select(d.c.subscription_id, func.count(), func.min(d.c.created_at))
            .where(
                d.c.school_id == school,
                d.c.subscription_id.in_([r.id for r in rows if r.school_id == school]),
                d.c.state == "pending",
            )
            .group_by(d.c.subscription_id)
        )
        for sub_id, count, oldest in counted:
            waiting[(school, sub_id)] = (int(count), oldest)
    return [_record(r, *waiting.get((r.school_id, r.id), (0, None))) for r in rows]


def _require(conn: Connection, school_id: str, subscription_id: UUID) -> Subscription:
    sub = get_subscription(conn, school_id, subscription_id)
    if sub is None:
        raise DomainError("webhook_subscription_unknown", f"no webhook subscription {subscription_id}")
    return sub


def _change(
    conn: Connection, sub: Subscription, actor: str, now: datetime, values: dict[str, Any], after: dict[str, Any]
) -> None:
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.school_id == sub.school_id, webhook_subscriptions.c.id == sub.id)
        .values(**values)
    )
    write_audit(
        conn,
        sub.school_id,
        actor,
        now,
        [AuditEntry("update", "webhook_subscription", str(sub.id), {"state": sub.state}, after)],
    )


def rotate_secret(
    conn: Connection,
    school_id: str,
    subscription_id: UUID,
    *,
    actor: str,
    now: datetime,
    overlap: timedelta = ROTATION_OVERLAP,
) -> str:
    """A new secret for the subscription; the current one signs beside it for ``overlap``."""
    sub = _require(conn, school_id, subscription_id)
    current = conn.execute(
        select(webhook_subscriptions.c.secret).where(
            webhook_subscriptions.c.school_id == school_id, webhook_subscriptions.c.id == subscription_id
        )
    ).scalar_one()
    secret = new_secret()
    after = {"secret_rotated_at": now.isoformat(), "previous_secret_until": (now + overlap).isoformat()}
    values = {"secret": secret, "previous_secret": current, "previous_secret_until": now + overlap}
    _change(conn, sub, actor, now, values, after)
    return secret


def pause(
    conn: Connection,
    school_id: str,
    subscription_id: UUID,
    *,
    actor: str,
    now: datetime,
    reason: str = "by_staff",
) -> None:
    """Stop delivering (deliveries are kept, and sent in order after :func:`resume`); idempotent.

    ``reason`` is what the office shows: ``by_staff``, or ``by_client`` when the system paused it itself
    through the API."""
    sub = _require(conn, school_id, subscription_id)
    if sub.state == State.PAUSED:
        return
    values = {"state": State.PAUSED, "paused_reason": reason, "paused_at": now, "paused_by": actor}
    _change(conn, sub, actor, now, values, {"state": State.PAUSED})


def resume(conn: Connection, school_id: str, subscription_id: UUID, *, actor: str, now: datetime) -> None:
    """Deliver again from now, the oldest waiting delivery first, with a fresh count of failures; idempotent."""
    sub = _require(conn, school_id, subscription_id)
    if sub.state == State.ACTIVE:
        return
    values = {
        "state": State.ACTIVE,
        "due_at": now,
        "failures": 0,
        "failing_since": None,
        "paused_reason": None,
        "paused_at": None,
        "paused_by": None,
    }
    _change(conn, sub, actor, now, values, {"state": State.ACTIVE})


def remove(conn: Connection, school_id: str, subscription_id: UUID, *, actor: str, now: datetime) -> int:
    """End the subscription: nothing more is queued or sent; how many waiting deliveries were cancelled."""
    sub = _require(conn, school_id, subscription_id)
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.school_id == school_id, webhook_subscriptions.c.id == subscription_id)
        .values(state=State.REMOVED, removed_at=now)
    )
    cancelled = conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.school_id == school_id,
            webhook_deliveries.c.subscription_id == subscription_id,
            webhook_deliveries.c.state == "pending",
        )
        .values(state="cancelled", last_error="subscription_removed")
    ).rowcount
    write_audit(
        conn, school_id, actor, now, [AuditEntry("delete", "webhook_subscription", str(sub.id), _public(sub), None)]
    )
    return int(cancelled)
