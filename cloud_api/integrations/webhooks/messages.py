"""What a webhook says, and when it is queued: in the very transaction that stored its event.

Every body is JSON in the Standard Webhooks shape, ``{"type", "timestamp", "data"}``:

``entry.created`` / ``exit.created`` / ``meal.created`` (a student came, left, was served)::

    {"type": "entry.created", "timestamp": "2026-11-20T03:00:00Z",
     "data": {"event_id": "0192…", "school_id": "s1", "person_id": "0192…", "class": "3Б",
              "occurred_at": "2026-11-20T08:00:00+05:00", "device_id": "turnstile-1"}}

  ``person_id`` is the student's id in the school's roster (what the API's roster gives), the time
  is the school's local time with its offset; a meal adds ``"meal": {"period", "category",
  "dishes"}``. Never the IIN, a name, a card or its hash, a price.

``roster.changed`` (the school's roster took a new version: fetch it through the API)::

    {"type": "roster.changed", "timestamp": "…", "data": {"school_id": "s1", "version": 42}}

Queued only for a student whose guardian's consent to attendance tracking is in force (§33-1.1),
for granted (or recorded) taps, and for subscriptions (active or paused) whose kinds and client's
scopes cover the event. The caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, insert, select

from cloud_api.db.schema import integration_clients, people, webhook_deliveries, webhook_subscriptions
from cloud_api.integrations.webhooks.subscriptions import SCOPE_OF, State
from cloud_api.services.consent import consents_of
from shared.contract import Event

__all__ = ["EVENT_KINDS", "Pending", "enqueue_events", "enqueue_roster_change", "event_body"]

EVENT_KINDS = ("entry", "exit", "meal")


class Pending:
    """The states of a delivery."""

    PENDING = "pending"
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # consent withdrawn, or the client lost the scope, before it went out
    CANCELLED = "cancelled"  # the subscription was removed


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def event_body(event: Event, class_name: str | None) -> str:
    """The JSON body announcing a stored event (``entry.created``, ``exit.created``, ``meal.created``)."""
    data: dict[str, Any] = {
        "event_id": str(event.id),
        "school_id": event.school_id,
        "person_id": event.person_id,
        "class": class_name,
        "occurred_at": event.occurred_at.isoformat(),
        "device_id": event.device_id,
    }
    if event.meal is not None:
        data["meal"] = {
            "period": event.meal.period,
            "category": event.meal.category.value,
            "dishes": list(event.meal.dishes),
        }
    return _json({"type": f"{event.kind.value}.created", "timestamp": _utc(event.occurred_at), "data": data})


def _listeners(conn: Connection, school_id: str) -> list[tuple[UUID, set[str]]]:
    """The school's subscriptions still queued to (active or paused) with the kinds each may hear of now."""
    s, c = webhook_subscriptions, integration_clients
    rows = conn.execute(
        select(s.c.id, s.c.kinds, c.c.scopes)
        .join(c, c.c.client_id == s.c.client_id)
        .where(s.c.school_id == school_id, s.c.state.in_((State.ACTIVE, State.PAUSED)), c.c.revoked_at.is_(None))
    ).all()
    return [(r.id, {k for k in r.kinds if SCOPE_OF[k] in r.scopes}) for r in rows]


def _person(event: Event) -> UUID | None:
    try:
        return UUID(event.person_id) if event.person_id else None
    except ValueError:
        return None  # not a roster person


def enqueue_events(conn: Connection, school_id: str, events: Sequence[Event], now: datetime) -> int:
    """Queue one delivery per matching subscription for each newly stored event; how many were queued.

    One query when the school has no subscription (the usual case): ingest pays nothing more.
    """
    listeners = _listeners(conn, school_id)
    if not listeners:
        return 0
    wanted = set().union(*(kinds for _, kinds in listeners))
    candidates = [
        (e, person)
        for e in events
        if e.kind.value in wanted and e.decision.value != "denied" and (person := _person(e)) is not None
    ]
    if not candidates:
        return 0
    persons = {person for _, person in candidates}
    consent = consents_of(conn, school_id, persons)
    allowed = {p for p in persons if consent.get(p, False)}
    if not allowed:
        return 0
    classes = dict(
        conn.execute(
            select(people.c.id, people.c.class_name).where(
                people.c.school_id == school_id, people.c.id.in_(allowed), people.c.role == "student"
            )
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for event, person in candidates:
        if person not in classes:
            continue  # withdrawn, never given, or not a student (staff have no guardian to consent)
        body = event_body(event, classes[person])
        for subscription_id, kinds in listeners:
            if event.kind.value in kinds:
                rows.append(
                    _row(school_id, subscription_id, f"{event.kind.value}.created", body, now, event.id, person)
                )
    if rows:
        conn.execute(insert(webhook_deliveries), rows)
    return len(rows)


def _row(
    school_id: str,
    subscription_id: UUID,
    event_type: str,
    body: str,
    now: datetime,
    event_id: UUID | None = None,
    person_id: UUID | None = None,
) -> dict[str, Any]:
    return {
        "school_id": school_id,
        # A UUIDv7, made in order: the order of delivery, and the webhook-id every retry repeats.
        "id": UUID(str(uuid_utils.uuid7())),
        "subscription_id": subscription_id,
        "event_type": event_type,
        "event_id": event_id,
        "person_id": person_id,
        "body": body,
        "state": Pending.PENDING,
        "attempts": 0,
        "created_at": now,
    }


def enqueue_roster_change(conn: Connection, school_id: str, version: int, now: datetime) -> int:
    """Queue ``roster.changed`` for each of the school's subscriptions to roster changes; how many were queued."""
    listeners = [sub for sub, kinds in _listeners(conn, school_id) if "roster" in kinds]
    if not listeners:
        return 0
    body = _json(
        {"type": "roster.changed", "timestamp": _utc(now), "data": {"school_id": school_id, "version": version}}
    )
    conn.execute(insert(webhook_deliveries), [_row(school_id, sub, "roster.changed", body, now) for sub in listeners])
    return len(listeners)
