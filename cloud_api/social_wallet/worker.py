"""The Social Wallet sender as a background worker, when ``social_wallet_url`` is set.

Every API process may run one: the outbox is a leased queue, so several workers share it without
sending a record twice at once.
"""

from __future__ import annotations

import logging

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from cloud_api.background.http import RetryPolicy, client
from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.contract import load_public_key
from cloud_api.social_wallet.sender import SendReport, send_pending

__all__ = ["WalletWorker", "wallet_worker"]

log = logging.getLogger(__name__)


class WalletWorker:
    """Sends a round of pending records; at once again while rounds come back full, else every ``interval_s``."""

    name = "social-wallet"

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
        self._key = public_key
        self.interval_s = interval_s
        self._batch = batch
        self._policy = policy
        self._client = client(base_url=url.rstrip("/"), timeout_s=timeout_s, transport=transport)
        self.last_report: SendReport | None = None

    async def round(self) -> bool:
        """One round; True when it claimed a full batch (more may be waiting)."""
        report = await send_pending(
            self._engine, self._client, public_key=self._key, limit=self._batch, policy=self._policy
        )
        self.last_report = report
        return report.claimed >= self._batch

    async def aclose(self) -> None:
        """Close the client: an HTTP request in flight is dropped, and its record sent again later."""
        await self._client.aclose()


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
