"""Expired authorization codes and access tokens are deleted: they open nothing, and a code's hash
is kept an hour past its expiry only so that a replay is told apart from a typo in the logs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete

from cloud_api.db.schema import oidc_codes, oidc_tokens

__all__ = ["KEEP_EXPIRED", "OidcPruner", "prune_expired"]

log = logging.getLogger(__name__)
KEEP_EXPIRED = timedelta(hours=1)


def prune_expired(conn: Connection, now: datetime) -> int:
    """Delete the codes and access tokens expired for :data:`KEEP_EXPIRED`; how many went."""
    before = now - KEEP_EXPIRED
    codes = conn.execute(delete(oidc_codes).where(oidc_codes.c.expires_at < before)).rowcount
    tokens = conn.execute(delete(oidc_tokens).where(oidc_tokens.c.expires_at < before)).rowcount
    return int(codes) + int(tokens)


class OidcPruner:
    """A background worker: every ``interval_s``, :func:`prune_expired`. Every API process runs one;
    two sweeping at once only delete the same rows once."""

    name = "single sign-on codes"

    def __init__(self, engine: Engine, *, interval_s: float = 600.0) -> None:
        self.engine = engine
        self.interval_s = interval_s

    async def round(self) -> bool:
        """Delete what expired; never more at once (one sweep takes everything)."""

        def sweep() -> int:
            with self.engine.begin() as conn:
                return prune_expired(conn, datetime.now(UTC))

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.info("single sign-on: %d expired codes and tokens deleted", removed)
        return False

    async def aclose(self) -> None:
        """Nothing to close."""
