"""The webhook worker: the cloud's one background worker for webhooks, in order per subscription.

The subscription is what is leased (:data:`QUEUE`, a :class:`~cloud_api.background.queue.LeasedQueue`
over ``webhook_subscriptions`` whose ready state is ``active``): a round claims the active
subscriptions that have deliveries waiting and whose time has come, and works each one's oldest
waiting deliveries one after another, the subscriptions side by side. A delivery is posted only
once every older one of its subscription has been delivered (or set aside: consent withdrawn since,
the client's scope gone); the first that fails stops its subscription's batch, and the subscription
is tried again after a backoff (exponential from :attr:`Backoff.initial_s`, equal jitter, capped at
:attr:`Backoff.max_s`, at least the receiver's ``Retry-After``), the same delivery first. So a
receiver back after an hour's outage gets everything, in order, within minutes.

A 2xx answer is delivered; anything else (a 3xx is not followed), a refused connection, a timeout
is a failure, and its reason is kept (``http_503``, ``connect_error``, ``timeout``). When a
subscription has failed without a success for :attr:`WebhookWorker.pause_after` (a day), it is
paused with that reason, shown in the office; its deliveries wait, and go out in order after a
resume. Each post carries ``webhook-id`` (the delivery's id, the same at every retry: a receiver
dedupes on it), ``webhook-timestamp`` and ``webhook-signature`` (Standard Webhooks, signed with
``standardwebhooks``; during a rotation's overlap, both secrets' signatures, space-separated).

Ingest wakes the worker of its own process (``supervisor.wake("webhooks")``); other processes'
deliveries are found at the next interval.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, Engine, select, update
from standardwebhooks import Webhook

from cloud_api.background.http import client as http_client
from cloud_api.background.http import retry_after_s
from cloud_api.background.queue import LeasedQueue
from cloud_api.db.schema import webhook_deliveries, webhook_subscriptions
from cloud_api.integrations.clients import IntegrationClient, get_client, may_serve_school
from cloud_api.integrations.webhooks.messages import Pending
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import SCOPE_OF, State
from cloud_api.services.consent import consents_of

__all__ = ["LAG", "PAUSES", "QUEUE", "WEBHOOKS", "Backoff", "WebhookWorker", "webhook_worker"]

log = logging.getLogger(__name__)

QUEUE = LeasedQueue(
    webhook_subscriptions, key=("school_id", "id"), state="state", lease="due_at", order="due_at", ready=State.ACTIVE
)
WEBHOOKS = Counter("mektep_webhooks", "Webhook deliveries by outcome (delivered, failed, skipped)", ["outcome"])
PAUSES = Counter("mektep_webhook_pauses", "Webhook subscriptions paused by the worker after failing too long")
LAG = Histogram(
    "mektep_webhook_lag_seconds",
    "From an event's ingest to its webhook's delivery",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
_BODY_LIMIT = 65536  # the longest answer read (and its connection kept): nothing of it is used


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    # The secret's base64 decoded once, not at every post.
    return Webhook(secret)


@dataclass(frozen=True)
class Backoff:
    """The wait before the next try after ``failures`` failures in a row: ``initial_s · 2^(failures-1)``,
    times a jitter of 0.5-1 (receivers that came back are not hit in step), at most ``max_s``."""

    initial_s: float = 2.0
    max_s: float = 300.0

    def wait_s(self, failures: int, jitter: float, asked_s: float | None = None) -> float:
        """Seconds to wait; ``asked_s``: the receiver's Retry-After, honoured up to ``max_s``."""
        exponential = min(self.max_s, self.initial_s * 2 ** min(failures - 1, 30)) * (0.5 + jitter / 2)
        return min(self.max_s, max(exponential, asked_s or 0.0))


@dataclass
class _Work:
    """One claimed subscription: what to send, what to set aside, and what came of it."""

    sub: Any  # the claimed row
    deliveries: list[Any] = field(default_factory=list)  # to post, in order
    skipped: list[tuple[UUID, str]] = field(default_factory=list)  # (delivery id, why)
    pause: str | None = None  # pause at once, without sending (the client was revoked)
    delivered: list[tuple[UUID, int, datetime]] = field(default_factory=list)  # (id, status, queued at)
    failed: tuple[UUID, int | None, str, float | None] | None = None  # (id, status, reason, Retry-After)
    more: bool = False  # deliveries were left for the next round


class WebhookWorker:
    """Delivers the webhooks of every subscription; run by the background supervisor."""

    name = "webhooks"

    def __init__(
        self,
        engine: Engine,
        *,
        policy: ReceiverPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        subscriptions: int = 32,
        batch: int = 500,
        concurrency: int = 16,
        interval_s: float = 1.0,
        timeout_s: float = 10.0,
        round_budget_s: float = 5.0,
        lease: timedelta = timedelta(minutes=2),
        backoff: Backoff = Backoff(),
        pause_after: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wall: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._client = http_client(timeout_s=timeout_s, transport=transport)
        self._subscriptions = subscriptions
        self._batch = batch
        self._gate = asyncio.Semaphore(concurrency)
        self.interval_s = interval_s
        self._budget_s = round_budget_s
        self._lease = lease
        self.backoff = backoff
        self.pause_after = pause_after
        self._clock = clock
        self._wall = wall  # the webhook-timestamp: receivers judge it by their own clock
        self._jitter = jitter
        self._running: set[asyncio.Task[bool]] = set()

    async def round(self) -> bool:
        """Work every due subscription once; True when there may be more to do at once.

        Each subscription is posted to and settled on its own: one whose receiver is slow to answer
        goes on beside the next rounds (it stays leased), rather than holding the others back.
        """
        work = await asyncio.to_thread(self._claim_and_plan)
        if not work:
            return False
        tasks = [asyncio.create_task(self._work(w), name=f"webhooks:{w.sub.id}") for w in work]
        for task in tasks:
            self._running.add(task)
            task.add_done_callback(self._finished)
        done, _ = await asyncio.wait(tasks, timeout=self._budget_s + 1.0)
        return len(work) == self._subscriptions or any(
            not t.cancelled() and t.exception() is None and t.result() for t in done
        )

    async def _work(self, work: _Work) -> bool:
        """Post a subscription's deliveries and settle them; whether more wait at once."""
        await self._deliver(work)
        await asyncio.to_thread(self._settle, [work])
        return work.more

    def _finished(self, task: asyncio.Task[bool]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Its subscription stays leased until the lease runs out, then is tried again.
            log.error("a webhook subscription's round failed", exc_info=task.exception())

    # -- posting -----------------------------------------------------------------------------------

    def _signature(self, sub: Any, msg_id: str, at: datetime, body: str, now: datetime) -> str:
        signatures = [_signer(sub.secret).sign(msg_id, at, body)]
        if sub.previous_secret and sub.previous_secret_until and now < sub.previous_secret_until:
            signatures.append(_signer(sub.previous_secret).sign(msg_id, at, body))
        return " ".join(signatures)

    async def _deliver(self, work: _Work) -> None:
        """Post the subscription's deliveries one after another until one fails or the round's time is up."""
        if work.pause or not work.deliveries:
            return
        async with self._gate:
            problem = await self._policy.problem_async(work.sub.url)
            if problem is not None:
                work.failed = (work.deliveries[0].id, None, f"url_{problem}", None)
                return
            started = time.monotonic()
            now = self._clock()
            for delivery in work.deliveries:
                if time.monotonic() - started > self._budget_s:
                    work.more = True
                    return
                status, reason, asked = await self._post(work.sub, delivery, now)
                if reason is None:
                    work.delivered.append((delivery.id, status or 0, delivery.created_at))
                else:
                    work.failed = (delivery.id, status, reason, asked)
                    work.more = False  # the next try waits for the backoff
                    return

    async def _post(self, sub: Any, delivery: Any, now: datetime) -> tuple[int | None, str | None, float | None]:
        """(HTTP status, why it failed or None, Retry-After) of one post."""
        at = datetime.fromtimestamp(int(self._wall()), UTC)
        msg_id = str(delivery.id)
        headers = {
            "content-type": "application/json",
            "user-agent": "Mektep-Gate-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signature(sub, msg_id, at, delivery.body, now),
        }
        try:
            async with self._client.stream("POST", sub.url, content=delivery.body.encode(), headers=headers) as answer:
                # Nothing of the answer is used, but a short one is read to its end so that its
                # connection is kept for the next post (a 204 has no body to read); of a long one
                # no more than _BODY_LIMIT is read, and its connection is dropped.
                read = 0
                async for chunk in answer.aiter_raw():
                    read += len(chunk)
                    if read > _BODY_LIMIT:
                        break
        except httpx.TimeoutException:
            return None, "timeout", None
        except httpx.ConnectError:
            return None, "connect_error", None
        except httpx.HTTPError as exc:
            return None, f"http_error:{type(exc).__name__}"[:200], None
        if 200 <= answer.status_code < 300:
            return answer.status_code, None, None
        return answer.status_code, f"http_{answer.status_code}", retry_after_s(answer.headers.get("retry-after"))

    # -- the database, off the event loop ----------------------------------------------------------

    def _claim_and_plan(self) -> list[_Work]:
        s, d = webhook_subscriptions, webhook_deliveries
        waiting = (
            select(d.c.id)
            .where(d.c.school_id == s.c.school_id, d.c.subscription_id == s.c.id, d.c.state == Pending.PENDING)
            .exists()
        )
        with self._engine.begin() as conn:
            claimed = QUEUE.claim(
                conn, now=self._clock(), limit=self._subscriptions, lease=self._lease, where=[waiting]
            )
        if not claimed:
            return []
        with self._engine.connect() as conn:
            clients: dict[str, IntegrationClient | None] = {}
            return [self._plan(conn, sub, clients) for sub in claimed]

    def _plan(self, conn: Connection, sub: Any, clients: dict[str, IntegrationClient | None]) -> _Work:
        work = _Work(sub)
        if sub.client_id not in clients:
            clients[sub.client_id] = get_client(conn, sub.client_id)
        client = clients[sub.client_id]
        if client is None or not client.active:
            work.pause = "client_revoked"
            return work
        if not may_serve_school(conn, client, sub.school_id):
            work.pause = "school_outside"
            return work
        d = webhook_deliveries
        rows = conn.execute(
            select(d)
            .where(d.c.school_id == sub.school_id, d.c.subscription_id == sub.id, d.c.state == Pending.PENDING)
            .order_by(d.c.id)
            .limit(self._batch)
        ).all()
        work.more = len(rows) == self._batch
        # Consent asked again: a guardian who withdrew it since the tap is obeyed before the post.
        persons = {r.person_id for r in rows if r.person_id is not None}
        consent = consents_of(conn, sub.school_id, persons) if persons else {}
        for row in rows:
            kind = row.event_type.split(".")[0]
            if SCOPE_OF[kind] not in client.scopes:
                work.skipped.append((row.id, "scope_missing"))
            elif row.person_id is not None and not consent.get(row.person_id, False):
                work.skipped.append((row.id, "no_consent"))
            else:
                work.deliveries.append(row)
        return work

    def _settle(self, works: list[_Work]) -> None:
        now = self._clock()
        d = webhook_deliveries
        with self._engine.begin() as conn:
            for work in works:
                sub = work.sub
                mine = (d.c.school_id == sub.school_id, d.c.state == Pending.PENDING)
                for delivery_id, reason in work.skipped:
                    conn.execute(
                        update(d).where(*mine, d.c.id == delivery_id).values(state=Pending.SKIPPED, last_error=reason)
                    )
                    WEBHOOKS.labels("skipped").inc()
                by_status: dict[int, list[UUID]] = {}
                for delivery_id, status, queued_at in work.delivered:
                    by_status.setdefault(status, []).append(delivery_id)
                    LAG.observe(max(0.0, (now - queued_at).total_seconds()))
                for status, ids in by_status.items():
                    conn.execute(
                        update(d)
                        .where(*mine, d.c.id.in_(ids))
                        .values(
                            state=Pending.DELIVERED,
                            delivered_at=now,
                            attempts=d.c.attempts + 1,
                            last_status=status,
                            last_error=None,
                        )
                    )
                WEBHOOKS.labels("delivered").inc(len(work.delivered))
                self._settle_subscription(conn, work, now)

    def _settle_subscription(self, conn: Connection, work: _Work, now: datetime) -> None:
        sub = work.sub
        key = [(sub.school_id, sub.id)]
        if work.pause is not None:
            QUEUE.settle(conn, key, State.PAUSED, paused_reason=work.pause, paused_at=now, paused_by="worker")
            PAUSES.inc()
            log.warning("webhook subscription %s of %s paused: %s", sub.id, sub.client_id, work.pause)
            return
        if work.failed is None:
            values: dict[str, Any] = {"failures": 0, "failing_since": None, "last_error": None}
            if work.delivered:
                values |= {"last_delivered_at": now, "last_attempt_at": now}
            QUEUE.release(conn, key, retry_at=now, **values)
            return
        delivery_id, status, reason, asked = work.failed
        d = webhook_deliveries
        conn.execute(
            update(d)
            .where(d.c.school_id == sub.school_id, d.c.id == delivery_id, d.c.state == Pending.PENDING)
            .values(attempts=d.c.attempts + 1, last_status=status, last_error=reason[:200])
        )
        WEBHOOKS.labels("failed").inc()
        failures = sub.failures + 1
        failing_since = sub.failing_since or now
        if work.delivered:  # it answered before this one: the run of failures starts again here
            failures, failing_since = 1, now
        values = {
            "failures": failures,
            "failing_since": failing_since,
            "last_error": reason[:200],
            "last_attempt_at": now,
        }
        if work.delivered:
            values["last_delivered_at"] = now
        if now - failing_since >= self.pause_after:
            QUEUE.settle(
                conn, key, State.PAUSED, paused_reason=reason[:200], paused_at=now, paused_by="worker", **values
            )
            PAUSES.inc()
            log.warning(
                "webhook subscription %s of %s paused after failing since %s: %s",
                sub.id,
                sub.client_id,
                failing_since.isoformat(),
                reason,
            )
            return
        wait = self.backoff.wait_s(failures, self._jitter(), asked)
        QUEUE.release(conn, key, retry_at=now + timedelta(seconds=wait), **values)

    async def aclose(self) -> None:
        """Stop the subscriptions still being posted to and close the HTTP client: a post in flight is
        dropped, and its delivery sent again when the subscription's lease runs out."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._client.aclose()


def webhook_worker(engine: Engine, *, development: bool, interval_s: float, concurrency: int) -> WebhookWorker:
    """The worker of one API process, as the app's lifespan starts it."""
    return WebhookWorker(
        engine, policy=ReceiverPolicy(development=development), interval_s=interval_s, concurrency=concurrency
    )
