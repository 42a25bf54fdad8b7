"""The push worker: a background worker that turns queued events into notices on guardians' devices.

Each round claims a batch of due notices (:mod:`cloud_api.push.queue`) and, for each: skips it if the
child's guardian has withdrawn consent since (§33-1.1), or if the same child had a notice of the
same kind within :data:`COALESCE` (a child tapping twice at the turnstile makes one notice);
otherwise composes it for every device of every guardian (an account's newest
:data:`~cloud_api.push.subscriptions.MAX_DEVICES`, whatever was kept before the limit), each in that
guardian's language, and sends it. The database is read once for the whole batch and written once
to settle it, off the event loop; the messages are encrypted off the loop too, and posted side by
side, at most ``concurrency`` at a time. A device the push service no longer knows is forgotten,
and so is one whose endpoint the cloud no longer posts to (:mod:`cloud_api.push.endpoints`).

Ingest wakes the worker of its own process (``supervisor.wake("push")``); other processes' rows are
found at the next interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy import Connection, Engine, delete, select

from cloud_api.db.schema import events, guardianships, notification_settings, people, push_queue, push_subscriptions
from cloud_api.push.messages import compose, compose_family, notice_kind
from cloud_api.push.notices import ABSENCE_NOTICES
from cloud_api.push.queue import State, claim, finish
from cloud_api.push.sender import Encrypted, Outcome, PushSender, Subscription
from cloud_api.push.subscriptions import MAX_DEVICES
from cloud_api.services.consent import consents_of
from cloud_api.services.dish_names import DishNames, dish_names

__all__ = ["COALESCE", "PUSHES", "PushWorker"]

log = logging.getLogger(__name__)
COALESCE = timedelta(minutes=1)
# Which earlier notice (within COALESCE) makes a new one redundant. Every meal is news; a refusal
# right after a meal (the child tapped again) is not.
_COVERED_BY: dict[str, tuple[str, ...]] = {
    "entry": ("entry",),
    "exit": ("exit",),
    "denied": ("denied", "meal"),
    "meal": (),
}
PUSHES = Counter("mektep_pushes", "Push messages by outcome", ["outcome"])


@dataclass
class _Plan:
    """What to do with one claimed notice: settle it at once (``state``), or send ``messages``."""

    row: dict[str, Any]
    state: State | None = None
    detail: str = ""
    messages: list[tuple[UUID, bytes]] = field(default_factory=list)  # (subscription id, JSON payload)
    devices: dict[UUID, Subscription] = field(default_factory=dict)


class PushWorker:
    """The push notices of one API process; run by the background supervisor."""

    name = "push"

    def __init__(
        self,
        engine: Engine,
        sender: PushSender,
        *,
        batch: int = 100,
        concurrency: int = 16,
        interval_s: float = 0.5,
        lease: timedelta = timedelta(minutes=2),
        late_after: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._batch = batch
        self._gate = asyncio.Semaphore(concurrency)
        self.interval_s = interval_s
        self._lease = lease
        self._late_after = late_after
        self._clock = clock

    async def round(self) -> bool:
        """Deal with one batch of due notices; True when the batch was full (more may be waiting)."""
        return await self.work_once() == self._batch

    async def work_once(self) -> int:
        """Claim due notices and deal with each; how many were claimed."""
        plans = await asyncio.to_thread(self._claim_and_plan)
        if not plans:
            return 0
        to_send = [(plan, device, data) for plan in plans for device, data in plan.messages]
        encrypted = await asyncio.to_thread(self._encrypt, to_send)
        # Devices side by side, each device's notices one after another: a phone shows them in the
        # order they happened ("came to school" before "lunch").
        per_device: dict[UUID, list[int]] = {}
        for n, (_, device, _) in enumerate(to_send):
            per_device.setdefault(device, []).append(n)
        outcomes: list[tuple[Outcome, int | None]] = [(Outcome.FAILED, None)] * len(to_send)

        async def device_in_order(positions: list[int]) -> None:
            async with self._gate:
                for n in positions:
                    outcomes[n] = await self._sender.send(encrypted[n])

        await asyncio.gather(*(device_in_order(positions) for positions in per_device.values()))
        counts: dict[int, dict[Outcome, int]] = {}
        gone: list[UUID] = []
        for (plan, device, _), (outcome, status) in zip(to_send, outcomes, strict=True):
            tally = counts.setdefault(plan.row["id"], {})
            tally[outcome] = tally.get(outcome, 0) + 1
            PUSHES.labels(outcome.value).inc()
            if outcome in (Outcome.GONE, Outcome.REFUSED):
                gone.append(device)
            if outcome is Outcome.REFUSED:
                log.warning("a device of %s was forgotten: its endpoint is not allowed", plan.row["school_id"])
            elif outcome is Outcome.FAILED:
                log.warning("push to a device of %s failed (%s)", plan.row["school_id"], status)
        settled = []
        for plan in plans:
            if plan.state is not None:
                settled.append((plan.row["id"], plan.state, plan.detail))
            else:
                tally = counts.get(plan.row["id"], {})
                settled.append((plan.row["id"], State.SENT, ", ".join(f"{n} {o.value}" for o, n in tally.items())))
        await asyncio.to_thread(self._settle, settled, gone)
        return len(plans)

    def _encrypt(self, to_send: list[tuple[_Plan, UUID, bytes]]) -> list[Encrypted]:
        return [self._sender.encrypt(plan.devices[device], data) for plan, device, data in to_send]

    # -- the database, off the event loop ----------------------------------------------------------

    def _claim_and_plan(self) -> list[_Plan]:
        with self._engine.begin() as conn:
            rows = claim(conn, self._clock(), self._batch, self._lease)
        if not rows:
            return []
        with self._engine.connect() as conn:
            return self._plan(conn, rows)

    def _plan(self, conn: Connection, rows: list[dict[str, Any]]) -> list[_Plan]:
        """Decide each notice with what the database says of the whole batch, read once."""
        by_school: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_school.setdefault(row["school_id"], []).append(row)
        plans = []
        for school, mine in by_school.items():
            persons = {row["person_id"] for row in mine}
            consent = consents_of(conn, school, persons, method=None)  # either card or QR
            found = {
                e.id: e
                for e in conn.execute(
                    select(events).where(events.c.school_id == school, events.c.id.in_([r["event_id"] for r in mine]))
                )
            }
            names = dict(
                conn.execute(
                    select(people.c.id, people.c.first_name).where(
                        people.c.school_id == school, people.c.id.in_(persons)
                    )
                ).all()
            )
            devices = self._devices(conn, school, persons)
            covered = self._coalesced(conn, school, mine)
            # Meals name their dishes in each guardian's language: the school's dish names, read once.
            served = dish_names(conn, school) if any(e.meal for e in found.values()) else None
            for row in mine:
                plans.append(
                    self._decide(
                        row,
                        consent,
                        found.get(row["event_id"]),
                        names,
                        devices.get(row["person_id"], []),
                        covered,
                        served,
                    )
                )
        return plans

    def _decide(
        self,
        row: dict[str, Any],
        consent: dict[UUID, bool],
        event: Any,
        names: dict[UUID, str],
        devices: list[dict[str, Any]],
        covered: set[int],
        served: DishNames | None = None,
    ) -> _Plan:
        person = row["person_id"]
        facts = row.get("facts")
        # A low balance is the family's money, not attendance: it needs no consent to tracking.
        if not consent.get(person, False) and (facts is None or row["kind"] in ABSENCE_NOTICES):
            return _Plan(row, State.SKIPPED, "no_consent")
        if facts is not None:
            return self._family_notice(row, facts, names.get(person), devices)
        if row["id"] in covered:
            return _Plan(row, State.COALESCED, "within a minute of the last")
        child = names.get(person)
        if event is None or child is None:
            return _Plan(row, State.SKIPPED, "event or child not found")
        kind = notice_kind(event.kind, event.decision, event.reason)
        wanted = [d for d in devices if d["meals" if kind in ("meal", "denied") else "entries"]]
        if not wanted:
            return _Plan(row, State.SKIPPED, "nobody subscribed")
        record = dict(event._mapping)
        plan = _Plan(row)
        for device in wanted:
            notice = compose(
                record,
                child,
                device["language"],
                received_at=record["received_at"],
                late_after=self._late_after,
                dishes=served,
            )
            plan.messages.append((device["id"], json.dumps(notice.payload(), ensure_ascii=False).encode()))
            plan.devices[device["id"]] = Subscription(device["endpoint"], device["p256dh"], device["auth"])
        return plan

    def _family_notice(
        self, row: dict[str, Any], facts: dict[str, Any], child: str | None, devices: list[dict[str, Any]]
    ) -> _Plan:
        if child is None:
            return _Plan(row, State.SKIPPED, "child not found")
        wish = "money" if row["kind"] == "low_balance" else "absences"
        wanted = [d for d in devices if d[wish]]
        if not wanted:
            return _Plan(row, State.SKIPPED, "nobody subscribed")
        plan = _Plan(row)
        for device in wanted:
            notice = compose_family(row["kind"], facts, str(row["person_id"]), child, device["language"])
            plan.messages.append((device["id"], json.dumps(notice.payload(), ensure_ascii=False).encode()))
            plan.devices[device["id"]] = Subscription(device["endpoint"], device["p256dh"], device["auth"])
        return plan

    def _coalesced(self, conn: Connection, school: str, rows: Iterable[dict[str, Any]]) -> set[int]:
        """The ids among ``rows`` that an earlier notice of the same child and kind already covers."""
        covered = set()
        for row in rows:
            covered_by = _COVERED_BY.get(row["kind"], ())
            if not covered_by:
                continue
            earlier = conn.execute(
                select(push_queue.c.id)
                .where(
                    push_queue.c.school_id == school,
                    push_queue.c.person_id == row["person_id"],
                    push_queue.c.kind.in_(covered_by),
                    push_queue.c.id < row["id"],
                    push_queue.c.occurred_at <= row["occurred_at"],
                    push_queue.c.occurred_at > row["occurred_at"] - COALESCE,
                    push_queue.c.state.in_((State.SENT.value, State.PENDING.value)),
                )
                .limit(1)
            ).first()
            if earlier is not None:
                covered.add(row["id"])
        return covered

    def _devices(self, conn: Connection, school: str, children: set[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """Every device of every guardian of each child, with the guardian's language and wishes."""
        rows = conn.execute(
            select(
                guardianships.c.child_id,
                push_subscriptions.c.id,
                push_subscriptions.c.account_id,
                push_subscriptions.c.endpoint,
                push_subscriptions.c.p256dh,
                push_subscriptions.c.auth,
                push_subscriptions.c.created_at,
                people.c.language.label("roster_language"),
            )
            .join(
                guardianships,
                (guardianships.c.school_id == push_subscriptions.c.school_id)
                & (guardianships.c.guardian_id == push_subscriptions.c.guardian_id),
            )
            .join(
                people,
                (people.c.school_id == push_subscriptions.c.school_id)
                & (people.c.id == push_subscriptions.c.guardian_id),
            )
            .where(guardianships.c.school_id == school, guardianships.c.child_id.in_(children))
        ).all()
        # The school's rows above share a shard; the accounts' settings live by account (Citus
        # joins no two tables distributed by different columns), so they are asked for apart.
        wishes = {
            s.account_id: s
            for s in conn.execute(
                select(notification_settings).where(
                    notification_settings.c.account_id.in_({r.account_id for r in rows})
                )
            )
        }
        found: dict[UUID, list[dict[str, Any]]] = {}
        per_account: dict[tuple[UUID, UUID], int] = {}
        for r in sorted(rows, key=lambda r: r.created_at, reverse=True):
            # Rows kept before the limit existed: an account's newest devices only.
            key = (r.child_id, r.account_id)
            per_account[key] = per_account.get(key, 0) + 1
            if per_account[key] > MAX_DEVICES:
                continue
            wish = wishes.get(r.account_id)
            found.setdefault(r.child_id, []).append(
                {
                    **dict(r._mapping),
                    "language": (wish.language if wish else None) or r.roster_language,
                    "entries": True if wish is None else bool(wish.entries),
                    "meals": True if wish is None else bool(wish.meals),
                    "money": True if wish is None else bool(wish.money),
                    "absences": True if wish is None else bool(wish.absences),
                }
            )
        return found

    def _settle(self, settled: list[tuple[int, State, str | None]], gone: list[UUID]) -> None:
        with self._engine.begin() as conn:
            finish(conn, settled, self._clock())
            if gone:
                conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id.in_(gone)))

    async def aclose(self) -> None:
        """Close the sender's HTTP client."""
        await self._sender.aclose()
