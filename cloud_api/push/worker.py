"""The push workers: threads that turn queued events into notices on guardians' devices.

For each claimed event: skip it if the child's guardian has withdrawn consent since (§33-1.1), or
if the same child had a notice of the same kind within :data:`COALESCE` (a child tapping twice at
the turnstile makes one notice); otherwise compose it for every device of every guardian, each in
that guardian's language, and send it. A device the push service no longer knows is forgotten.

Ingest wakes the workers of its own process (:meth:`PushWorkers.wake`); other processes' rows are
found by polling every ``poll_s``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy import Engine, delete, select

from cloud_api.db.schema import events, guardianships, notification_settings, people, push_queue, push_subscriptions
from cloud_api.push.messages import compose, notice_kind
from cloud_api.push.queue import State, claim, finish
from cloud_api.push.sender import Outcome, PushSender, Subscription
from cloud_api.services.consent import consents_of

__all__ = ["COALESCE", "PUSHES", "PushWorkers"]

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


class PushWorkers:
    """``threads`` workers over one queue; :meth:`start` and :meth:`stop` from the app's lifespan."""

    def __init__(
        self,
        engine: Engine,
        make_sender: Callable[[], PushSender],
        *,
        threads: int = 4,
        batch: int = 20,
        poll_s: float = 0.5,
        lease: timedelta = timedelta(minutes=2),
        late_after: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._make_sender = make_sender
        self._threads_wanted = threads
        self._batch = batch
        self._poll_s = poll_s
        self._lease = lease
        self._late_after = late_after
        self._clock = clock
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads."""
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._run, name=f"push-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking rows, finish the one in hand, and join."""
        self._stop.set()
        self._wakeup.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wakeup.set()

    def _run(self) -> None:
        sender = self._make_sender()
        while not self._stop.is_set():
            try:
                worked = self.work_once(sender)
            except Exception:
                log.exception("push worker failed; going on")
                worked = 0
            if worked == 0:
                self._wakeup.wait(self._poll_s)
                self._wakeup.clear()

    def work_once(self, sender: PushSender) -> int:
        """Claim due rows and deal with each; how many were claimed."""
        with self._engine.begin() as conn:
            rows = claim(conn, self._clock(), self._batch, self._lease)
        for row in rows:
            state, detail = self._deliver(row, sender)
            with self._engine.begin() as conn:
                finish(conn, row["id"], state, self._clock(), detail)
        return len(rows)

    def _deliver(self, row: dict[str, Any], sender: PushSender) -> tuple[State, str]:
        school, person = row["school_id"], row["person_id"]
        with self._engine.connect() as conn:
            if not consents_of(conn, school, [person]).get(person, False):
                return State.SKIPPED, "no_consent"
            if self._coalesced(conn, row):
                return State.COALESCED, "within a minute of the last"
            event = conn.execute(
                select(events).where(events.c.school_id == school, events.c.id == row["event_id"])
            ).first()
            child = conn.execute(
                select(people.c.first_name).where(people.c.school_id == school, people.c.id == person)
            ).scalar()
            devices = self._devices(conn, school, person)
        if event is None or child is None:
            return State.SKIPPED, "event or child not found"
        kind = notice_kind(event.kind, event.decision, event.reason)
        wanted = [d for d in devices if d["meals" if kind in ("meal", "denied") else "entries"]]
        if not wanted:
            return State.SKIPPED, "nobody subscribed"
        record = dict(event._mapping)
        counts: dict[Outcome, int] = {}
        for device in wanted:
            notice = compose(
                record, child, device["language"], received_at=record["received_at"], late_after=self._late_after
            )
            data = json.dumps(notice.payload(), ensure_ascii=False).encode()
            outcome, status = sender.send(Subscription(device["endpoint"], device["p256dh"], device["auth"]), data)
            counts[outcome] = counts.get(outcome, 0) + 1
            PUSHES.labels(outcome.value).inc()
            if outcome is Outcome.GONE:
                self._forget(device["id"])
            elif outcome is Outcome.FAILED:
                log.warning("push to a device of %s failed (%s)", school, status)
        detail = ", ".join(f"{n} {outcome.value}" for outcome, n in counts.items())
        return State.SENT, detail

    def _coalesced(self, conn: Any, row: dict[str, Any]) -> bool:
        covered_by = _COVERED_BY[row["kind"]]
        if not covered_by:
            return False
        earlier = conn.execute(
            select(push_queue.c.id)
            .where(
                push_queue.c.school_id == row["school_id"],
                push_queue.c.person_id == row["person_id"],
                push_queue.c.kind.in_(covered_by),
                push_queue.c.id < row["id"],
                push_queue.c.occurred_at <= row["occurred_at"],
                push_queue.c.occurred_at > row["occurred_at"] - COALESCE,
                push_queue.c.state.in_((State.SENT.value, State.WORKING.value, State.PENDING.value)),
            )
            .limit(1)
        ).first()
        return earlier is not None

    def _devices(self, conn: Any, school: str, child: UUID) -> list[dict[str, Any]]:
        # Every device of every guardian of the child, with the guardian's language and wishes.
        rows = conn.execute(
            select(
                push_subscriptions.c.id,
                push_subscriptions.c.endpoint,
                push_subscriptions.c.p256dh,
                push_subscriptions.c.auth,
                people.c.language.label("roster_language"),
                notification_settings.c.language,
                notification_settings.c.entries,
                notification_settings.c.meals,
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
            .outerjoin(notification_settings, notification_settings.c.account_id == push_subscriptions.c.account_id)
            .where(guardianships.c.school_id == school, guardianships.c.child_id == child)
        )
        return [
            {
                **dict(r._mapping),
                "language": r.language or r.roster_language,
                "entries": True if r.entries is None else bool(r.entries),
                "meals": True if r.meals is None else bool(r.meals),
            }
            for r in rows
        ]

    def _forget(self, subscription_id: UUID) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id == subscription_id))
