"""Pull the school's roster from the cloud, apply it atomically, and hand it to the policy.

Every ``interval_s`` (and at start) the gateway asks ``GET /v1/sync/roster?since=<version held>&contract=3``,
signed with its key like an ingest batch (:func:`shared.contract.signed_headers`, the path with
its query string). A delta is written in one transaction on the storage thread
(:func:`gateway.roster.store.apply`); only then is the policy's index swapped, in one assignment, so a
tap is judged by the whole old roster or the whole new one. Offline, the gateway keeps deciding
with what it holds, for as long as it takes; a refused or malformed delta is counted and the old
roster stays. After each pull, the photos the roster names and the gateway lacks are fetched
(:class:`gateway.roster.photos.PhotoFetcher`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from gateway.roster.photos import PhotoFetcher
from gateway.roster.store import RosterIndex, RosterRefused, apply, parse_delta
from gateway.storage import Storage
from shared.contract import signed_headers
from shared.roster_contract import ROSTER_CONTRACT, ROSTER_PATH

__all__ = ["RosterSync", "SyncStats"]

log = logging.getLogger(__name__)


@dataclass
class SyncStats:
    """What the page and the metrics show of the roster sync."""

    version: int = 0
    pulls: int = 0
    applied: int = 0
    refused: int = 0
    failures: int = 0
    last_error: str = ""
    last_applied_at: float | None = None  # time.time()


class RosterSync:
    """Pulls deltas into the gateway database and reports each new index to ``on_index``."""

    def __init__(
        self,
        *,
        storage: Storage,
        school_id: str,
        gateway_id: str,
        key: bytes,
        base_url: str,
        on_index: Callable[[RosterIndex], None],
        version: int = 0,
        interval_s: float = 20.0,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        photos: PhotoFetcher | None = None,
    ) -> None:
        self._storage = storage
        self._school_id = school_id
        self._gateway_id = gateway_id
        self._key = key
        self._base_url = base_url.rstrip("/")
        self._on_index = on_index
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._transport = transport
        self.stats = SyncStats(version=version)
        self.photos = photos
        # The contract of the snapshot held (None: unknown). Below what the cloud answers now, the
        # next pull asks for a full snapshot: dishes and bans that did not change since would
        # otherwise never bring the fields a newer contract adds (a dish's kind, kind-of-dish bans).
        self.contract: int | None = ROSTER_CONTRACT

    async def run(self) -> None:
        """Pull now and then every interval, until cancelled; errors wait for the next turn."""
        async with httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=self._timeout_s
        ) as client:
            while True:
                await self.pull(client)
                if self.photos is not None:
                    await self.photos.fetch(client)  # also those a failed fetch left behind
                await asyncio.sleep(self._interval_s)

    async def pull(self, client: httpx.AsyncClient) -> bool:
        """Ask once for what changed; True when a delta was applied."""
        self.stats.pulls += 1
        since = self.stats.version if self.contract is not None else 0
        path = f"{ROSTER_PATH}?since={since}&contract={ROSTER_CONTRACT}"
        headers = signed_headers(self._key, self._gateway_id, "GET", path, b"", str(int(time.time())))
        try:
            response = await client.get(path, headers=headers)
        except httpx.TransportError as exc:
            return self._failed(f"cloud unreachable: {exc!r}")
        if response.status_code != 200:
            return self._failed(f"cloud answered {response.status_code}: {response.text[:200]}")
        try:
            delta = parse_delta(response.content)
            if delta.version == self.stats.version and (not delta.full or delta.version == 0):
                return False  # nothing changed (or still nothing at all): nothing to write
            db_call = self._storage.call
            index = await db_call(lambda outbox: apply(outbox.db, delta, self._school_id))
        except RosterRefused as exc:
            self.stats.refused += 1
            return self._failed(str(exc))
        self.stats.version = index.version
        self.contract = index.contract if delta.contract <= (index.contract or 0) else None
        self.stats.applied += 1
        self.stats.last_applied_at = time.time()
        self.stats.last_error = ""
        self._on_index(index)
        log.info("roster version %d applied (%s)", index.version, "full" if delta.full else "delta")
        return True

    def _failed(self, error: str) -> bool:
        self.stats.failures += 1
        self.stats.last_error = error
        log.warning("roster sync: %s", error)
        return False
