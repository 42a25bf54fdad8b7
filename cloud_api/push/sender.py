"""Sending one Web Push message (RFC 8030): encrypted by pywebpush (RFC 8291; only its encoder is used,
never its requests-based ``send``, which follows redirects), VAPID-signed (RFC 8292), posted with the
background workers' HTTP client, which follows no redirect.

Before the post the endpoint is judged again by the deployment's
:class:`~cloud_api.push.endpoints.EndpointPolicy` (the name may resolve elsewhere since the device
subscribed). Then a push service's answer decides what happens to the subscription:

    endpoint refused  not posted to, counted: remove the subscription (kept if the name does not resolve)
    201/202/200       delivered
    3xx               not followed: failed, counted
    404/410           the browser unsubscribed (or the service forgot it): remove the subscription
    429, 5xx          retried by the policy, waiting what Retry-After says (capped), else backing off
    other 4xx         a request the service will never take: given up, counted

A message is posted once (a retry only after a 429, 5xx or no answer), and the answer's body is
never read.

The VAPID JWT is signed once per push service origin and reused until an hour before it expires:
an ECDSA signature per message would cost more than the encryption.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
from pywebpush import WebPusher

from cloud_api.background.http import RetryPolicy, Transient, retry_after_s
from cloud_api.core.metrics import PUSH_ENDPOINTS_REFUSED
from cloud_api.push.endpoints import EndpointPolicy, Problem
from cloud_api.push.keys import VapidKey

__all__ = ["PUSH_POLICY", "Encrypted", "Outcome", "PushSender", "Subscription"]

log = logging.getLogger(__name__)
JWT_LIFETIME_S = 12 * 3600  # the longest RFC 8292 allows is 24 h
JWT_RENEW_BEFORE_S = 3600
# A push service that is busy is tried four times, up to half a minute apart, then the notice is
# counted as failed: a late "came to school" is worth less than the next one.
PUSH_POLICY = RetryPolicy(initial_s=0.2, max_s=30.0, attempts=4)


class Outcome(Enum):
    """What became of one message."""

    SENT = "sent"
    GONE = "gone"  # 404/410: the subscription no longer exists
    FAILED = "failed"  # refused for good, or still failing after the retries
    REFUSED = "refused"  # the endpoint is not one the cloud posts to: nothing sent


@dataclass(frozen=True, slots=True)
class Subscription:
    """A browser's push subscription, as its PushManager gave it."""

    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        """The ``subscription_info`` pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True, slots=True)
class Encrypted:
    """A message ready to post: its endpoint, its aes128gcm body and the headers that go with it."""

    endpoint: str
    body: bytes
    headers: dict[str, str]


class PushSender:
    """Encrypts messages (CPU: the caller runs it off the event loop) and posts them (on the loop)."""

    def __init__(
        self,
        vapid: VapidKey,
        subject: str,
        client: httpx.AsyncClient,
        *,
        endpoints: EndpointPolicy,
        ttl_s: int = 3600,
        policy: RetryPolicy = PUSH_POLICY,
    ) -> None:
        self._vapid = vapid
        self._subject = subject
        self._client = client
        self._endpoints = endpoints
        self._ttl_s = ttl_s
        self._policy = policy
        self._jwt: dict[str, tuple[float, dict[str, str]]] = {}

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._jwt.get(audience)
        if cached is None or cached[0] - now < JWT_RENEW_BEFORE_S:
            expires = now + JWT_LIFETIME_S
            claims = {"aud": audience, "exp": int(expires), "sub": self._subject}
            cached = (expires, dict(self._vapid.vapid.sign(claims)))
            self._jwt[audience] = cached
        return cached[1]

    def encrypt(self, subscription: Subscription, data: bytes, *, urgency: str = "high") -> Encrypted:
        """The message as the push service takes it (an ECDH key and AES-GCM per message)."""
        body = WebPusher(subscription.info()).encode(data, "aes128gcm")["body"]
        headers = {
            **self._vapid_headers(subscription.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self._ttl_s),
            "Urgency": urgency,
        }
        return Encrypted(subscription.endpoint, body, headers)

    async def send(self, message: Encrypted) -> tuple[Outcome, int | None]:
        """Post the message, retrying a busy service; the outcome and the service's last status."""
        problem = await self._endpoints.problem_async(message.endpoint)
        if problem is not None:
            PUSH_ENDPOINTS_REFUSED.labels("send", problem.value).inc()
            # A name that does not resolve now may again later; one that points inside never should.
            return (Outcome.FAILED if problem is Problem.UNRESOLVED else Outcome.REFUSED), None
        try:
            return await self._policy.call(lambda: self._post(message))
        except Transient as failure:
            return Outcome.FAILED, failure.status

    async def _post(self, message: Encrypted) -> tuple[Outcome, int | None]:
        request = self._client.build_request("POST", message.endpoint, content=message.body, headers=message.headers)
        try:
            # Streamed and closed unread: only the status and headers matter, whatever the body's size.
            response = await self._client.send(request, stream=True, follow_redirects=False)
            await response.aclose()
        except httpx.TransportError as exc:
            raise Transient(f"transport: {exc!r}") from None
        status = response.status_code
        if 300 <= status < 400:
            PUSH_ENDPOINTS_REFUSED.labels("send", "redirect").inc()
            log.warning("a push service answered %s (a redirect, not followed)", status)
            return Outcome.FAILED, status
        if status in (200, 201, 202):
            return Outcome.SENT, status
        if status in (404, 410):
            return Outcome.GONE, status
        if status == 429 or status >= 500:
            raise Transient(f"HTTP {status}", retry_after_s(response.headers.get("Retry-After")), status)
        return Outcome.FAILED, status

    async def aclose(self) -> None:
        """Close the HTTP client: the worker is stopping."""
        await self._client.aclose()
