"""Sending one Web Push message (RFC 8030) with pywebpush: encrypted (RFC 8291), VAPID-signed (RFC 8292).

A push service's answer decides what happens to the subscription:

    201/202/200    delivered
    404/410        the browser unsubscribed (or the service forgot it): remove the subscription
    429, 5xx       retried with tenacity, waiting what Retry-After says (capped), else backing off
    other 4xx      a request the service will never take: given up, counted

The VAPID JWT is signed once per push service origin and reused until an hour before it expires:
an ECDSA signature per message would cost more than the encryption.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import requests
from pywebpush import WebPusher
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from cloud_api.push.keys import VapidKey

__all__ = ["Outcome", "PushSender", "Subscription", "TemporaryFailure"]

JWT_LIFETIME_S = 12 * 3600  # the longest RFC 8292 allows is 24 h
JWT_RENEW_BEFORE_S = 3600


class Outcome(Enum):
    """What became of one message."""

    SENT = "sent"
    GONE = "gone"  # 404/410: the subscription no longer exists
    FAILED = "failed"  # refused for good, or still failing after the retries


@dataclass(frozen=True, slots=True)
class Subscription:
    """A browser's push subscription, as its PushManager gave it."""

    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        """The ``subscription_info`` pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class TemporaryFailure(Exception):
    """429 or 5xx (or no answer): worth another try, after ``retry_after_s`` if the service said."""

    def __init__(self, status: int | None, retry_after_s: float | None) -> None:
        super().__init__(f"push service answered {status}")
        self.status = status
        self.retry_after_s = retry_after_s


def _retry_after(value: str | None) -> float | None:
    # Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3).
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class PushSender:
    """Sends messages for one worker thread (it owns a keep-alive HTTP session)."""

    def __init__(
        self,
        vapid: VapidKey,
        subject: str,
        *,
        ttl_s: int = 3600,
        timeout_s: float = 10.0,
        attempts: int = 4,
        max_wait_s: float = 30.0,
        sleep: Any = time.sleep,
    ) -> None:
        self._vapid = vapid
        self._subject = subject
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._session = requests.Session()
        self._jwt: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def _headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            cached = self._jwt.get(audience)
            if cached is None or cached[0] - now < JWT_RENEW_BEFORE_S:
                expires = now + JWT_LIFETIME_S
                claims = {"aud": audience, "exp": int(expires), "sub": self._subject}
                cached = (expires, dict(self._vapid.vapid.sign(claims)))
                self._jwt[audience] = cached
        return cached[1]

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TemporaryFailure) and error.retry_after_s is not None:
            return min(error.retry_after_s, self._max_wait_s)
        return float(wait_exponential(multiplier=0.2, max=self._max_wait_s)(state))

    def send(self, subscription: Subscription, data: bytes, *, urgency: str = "high") -> tuple[Outcome, int | None]:
        """Encrypt and send ``data``; the outcome and the push service's last status."""
        retrying = Retrying(
            retry=retry_if_exception_type(TemporaryFailure),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, subscription, data, urgency)
        except TemporaryFailure as failure:
            return Outcome.FAILED, failure.status

    def _send_once(self, subscription: Subscription, data: bytes, urgency: str) -> tuple[Outcome, int | None]:
        headers = {**self._headers(subscription.endpoint), "Urgency": urgency}
        pusher = WebPusher(subscription.info(), requests_session=self._session)
        try:
            response = pusher.send(data, headers, ttl=self._ttl_s, timeout=self._timeout_s)
        except requests.RequestException:
            raise TemporaryFailure(None, None) from None
        status = int(response.status_code)  # type: ignore[union-attr]
        if status in (200, 201, 202):
            return Outcome.SENT, status
        if status in (404, 410):
            return Outcome.GONE, status
        if status == 429 or status >= 500:
            raise TemporaryFailure(status, _retry_after(response.headers.get("Retry-After")))  # type: ignore[union-attr]
        return Outcome.FAILED, status
