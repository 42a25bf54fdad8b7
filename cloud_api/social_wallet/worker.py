"""The background sender the app's lifespan runs when ``social_wallet_url`` is set.

Every API process may run one: rows are leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so
several workers share the outbox without sending a record twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.contract import load_public_key
from cloud_api.social_wallet.sender import RetryPolicy, SendReport, send_pending

__all__ = ["WalletWorker", "wallet_worker"]

log = logging.getLogger(__name__)


class WalletWorker:
    """Sends a round every ``interval_s`` (at once again while rounds come back full) until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        public_key: Ed25519PublicKey,
        interval_s: float,
        batch: int = 500,
        timeout_s: float = 10.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._engine = engine
        self._url = url.rstrip("/")
        self._key = public_key
        self._interval_s = interval_s
        self._batch = batch
        self._timeout_s = timeout_s
        self._policy = policy
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.last_report: SendReport | None = None

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._task = asyncio.create_task(self.run(), name="social-wallet-sender")

    async def stop(self) -> None:
        """Cancel the loop and wait for it: a round's database work finishes (threads are not
        interrupted), an HTTP request in flight is dropped and its record sent again later."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def run(self) -> None:
        """Send rounds until cancelled; no error ends the loop."""
        async with httpx.AsyncClient(base_url=self._url, timeout=self._timeout_s, transport=self._transport) as client:
            while True:
                report = None
                try:
                    report = await send_pending(
                        self._engine, client, public_key=self._key, limit=self._batch, policy=self._policy
                    )
                except Exception:  # the worker must outlive a database blip or a surprise
                    log.exception("Social Wallet round failed")
                self.rounds += 1
                self.last_report = report
                if report is None or report.claimed < self._batch:
                    await asyncio.sleep(self._interval_s)


def wallet_worker(settings: CloudSettings, engine: Engine) -> WalletWorker | None:
    """The worker ``settings`` ask for, or None when no Wallet URL is configured."""
    if not settings.social_wallet_url or settings.social_wallet_public_key is None:
        return None
    return WalletWorker(
        engine,
        url=settings.social_wallet_url,
        public_key=load_public_key(settings.social_wallet_public_key),
        interval_s=settings.social_wallet_interval_s,
    )
