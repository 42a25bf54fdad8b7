"""The one HTTP client family of the background workers, and how they retry.

Every outbound call (a push service, the Social Wallet, a report receiver) goes through an
``httpx.AsyncClient`` from :func:`client`, and is retried by a :class:`RetryPolicy`: exponential
backoff with equal jitter, at least what the receiver's ``Retry-After`` asks, at most ``max_s``,
``attempts`` tries in a round. A call that is worth another try raises :class:`Transient`; what is
left undelivered after a round goes back to its queue (:mod:`cloud_api.background.queue`) for the next.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

__all__ = ["RetryPolicy", "Transient", "client", "retry_after_s"]

T = TypeVar("T")


class Transient(Exception):
    """Not answered this time (down, busy, an answer we cannot take): worth another try.

    ``retry_after_s`` is what the receiver asked for, when it said.
    """

    def __init__(self, error: str, retry_after_s: float | None = None, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after_s = retry_after_s
        self.status = status


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried within one round; ``sleep`` and ``jitter`` are injectable so tests need not wait.

    The wait before try ``n + 1`` is ``initial_s · 2^(n-1)`` with equal jitter, at least the
    receiver's ``Retry-After``, at most ``max_s``.
    """

    initial_s: float = 1.0
    max_s: float = 300.0
    attempts: int = 6
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = random.random

    def wait_s(self, state: RetryCallState) -> float:
        """The wait after a failed try (tenacity's ``wait``)."""
        exponential = self.initial_s * 2 ** (state.attempt_number - 1)
        exponential *= 0.5 + self.jitter() / 2  # equal jitter: concurrent calls do not retry in step
        error = state.outcome.exception() if state.outcome is not None else None
        asked = error.retry_after_s if isinstance(error, Transient) and error.retry_after_s else 0.0
        return min(max(exponential, asked), self.max_s)

    def lease_s(self, timeout_s: float) -> float:
        """How long a round may hold a queued item at worst: every wait and every request timing out."""
        return self.attempts * (self.max_s + timeout_s) + 60.0

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` until it returns, or re-raise its last :class:`Transient` after ``attempts`` tries."""
        retrying = AsyncRetrying(
            wait=self.wait_s,
            stop=stop_after_attempt(self.attempts),
            retry=retry_if_exception_type(Transient),
            sleep=self.sleep,
            reraise=True,
        )

        async def once() -> T:  # a coroutine function: tenacity runs a plain callable as a sync one
            return await attempt()

        return await retrying(once)


def client(
    *, base_url: str = "", timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An HTTP client for a background worker: keep-alive connections, the same timeout for each step."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)
