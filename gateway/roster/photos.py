"""The photos the roster names (children's faces, dishes), held on the gateway for the offline canteen screen.

The cloud names a photo by the SHA-256 of its bytes (a person's ``photo_sha256``, a dish's
``photo_url``). :class:`PhotoFetcher` asks the cloud for each one the gateway lacks, signed like
the roster pull (``GET /v1/sync/photos/<sha256>``), keeps it only if its bytes hash to its name,
and stores it in the gateway database; the canteen screen serves it from there. A photo that could
not be fetched is asked for again at the next pull. None is fetched while the disk is under its
floor, and a photo the roster stopped naming is pruned after the retention (:mod:`gateway.disk`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import sqlite_utils
from sqlite_utils import Migrations

from gateway.storage import Storage
from shared.contract import signed_headers
from shared.roster_contract import PHOTOS_PATH

__all__ = ["PhotoFetcher", "PhotoStats", "digest_of", "migrate", "missing", "photo", "prune_batch", "store"]

log = logging.getLogger(__name__)
migrations = Migrations("mektep-gateway-photos")
DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_PER_PULL = 50  # a first sync of a big school fills the cache over a few pulls, not one long one


@migrations()
def m001_photos(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE photos (sha256 TEXT PRIMARY KEY, content_type TEXT NOT NULL, data BLOB NOT NULL)")


@migrations()
def m002_unnamed_since(db: sqlite_utils.Database) -> None:
    # When the roster stopped naming a photo (a child who left, a dish off the menu): retention
    # counts from then, so a photo still on the roster is never pruned however old it is.
    db.execute("ALTER TABLE photos ADD COLUMN unnamed_since TEXT")


def migrate(db: sqlite_utils.Database) -> None:
    """Create or upgrade the photo table."""
    migrations.apply(db)


def digest_of(url_or_digest: str | None) -> str | None:
    """The SHA-256 a photo reference ends with (a cloud photo URL or a bare digest), or None."""
    if not url_or_digest:
        return None
    tail = url_or_digest.rsplit("/", 1)[-1]
    return tail if DIGEST.fullmatch(tail) else None


def _named(db: sqlite_utils.Database) -> set[str]:
    named = db.execute(
        "SELECT json_extract(body, '$.photo_sha256') FROM roster_people "
        "UNION SELECT json_extract(body, '$.photo_url') FROM roster_dishes"
    ).fetchall()
    return {d for (ref,) in named if (d := digest_of(ref)) is not None}


def missing(db: sqlite_utils.Database) -> list[str]:
    """The photos the roster held names and the gateway does not hold yet."""
    held = {row[0] for row in db.execute("SELECT sha256 FROM photos")}
    return sorted(_named(db) - held)


def prune_batch(db: sqlite_utils.Database, now: datetime, unnamed_for: timedelta, limit: int = 300) -> int:
    """Delete up to ``limit`` photos the roster has not named for ``unnamed_for``; how many went.

    A photo the roster names is kept whatever its age: the canteen screen shows it offline.
    """
    if "photos" not in db.table_names() or "roster_people" not in db.table_names():
        return 0
    held = {row[0] for row in db.execute("SELECT sha256 FROM photos")}
    named = _named(db)
    stamp = now.isoformat()
    with db.atomic():
        db.conn.executemany(
            "UPDATE photos SET unnamed_since = ? WHERE sha256 = ? AND unnamed_since IS NULL",
            [(stamp, d) for d in held - named],
        )
        db.conn.executemany("UPDATE photos SET unnamed_since = NULL WHERE sha256 = ?", [(d,) for d in held & named])
        return db.conn.execute(
            "DELETE FROM photos WHERE sha256 IN (SELECT sha256 FROM photos WHERE unnamed_since <= ? LIMIT ?)",
            [(now - unnamed_for).isoformat(), limit],
        ).rowcount


def store(db: sqlite_utils.Database, digest: str, content_type: str, data: bytes) -> None:
    """Keep a photo (once)."""
    with db.atomic():
        db.conn.execute(
            "INSERT OR IGNORE INTO photos (sha256, content_type, data) VALUES (?, ?, ?)", [digest, content_type, data]
        )


def photo(db: sqlite_utils.Database, digest: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a held photo, or None."""
    row = db.execute("SELECT content_type, data FROM photos WHERE sha256 = ?", [digest]).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


@dataclass
class PhotoStats:
    """What the status page shows of the photo cache."""

    fetched: int = 0
    failures: int = 0
    corrupt: int = 0  # bytes that did not hash to the photo's name: dropped
    skipped_low_disk: int = 0  # pulls that fetched nothing because the disk is under its floor


class PhotoFetcher:
    """Fetches the photos the roster names and the gateway lacks, a few each pull."""

    def __init__(
        self, *, storage: Storage, gateway_id: str, key: bytes, disk_low: Callable[[], bool] = lambda: False
    ) -> None:
        self._storage = storage
        self._disk_low = disk_low  # photos are not needed to decide a tap: they stop first
        self._gateway_id = gateway_id
        self._key = key
        self.stats = PhotoStats()

    async def fetch(self, client: httpx.AsyncClient) -> int:
        """Fetch what is missing (at most :data:`MAX_PER_PULL`); how many photos were stored."""
        if self._disk_low():
            self.stats.skipped_low_disk += 1
            return 0
        wanted = await self._storage.call(lambda outbox: missing(outbox.db))
        stored = 0
        for digest in wanted[:MAX_PER_PULL]:
            path = f"{PHOTOS_PATH}/{digest}"
            headers = signed_headers(self._key, self._gateway_id, "GET", path, b"", str(int(time.time())))
            try:
                response = await client.get(path, headers=headers)
            except httpx.TransportError as exc:
                self.stats.failures += 1
                log.warning("photo %s: cloud unreachable: %r", digest[:12], exc)
                return stored  # the rest wait for the next pull
            if response.status_code != 200:
                self.stats.failures += 1
                log.warning("photo %s: cloud answered %d", digest[:12], response.status_code)
                continue
            data = response.content
            if hashlib.sha256(data).hexdigest() != digest:
                self.stats.corrupt += 1
                log.warning("photo %s: the bytes do not match the name; dropped", digest[:12])
                continue
            content_type = response.headers.get("content-type", "application/octet-stream")
            await self._storage.call(lambda outbox, d=digest, t=content_type, b=data: store(outbox.db, d, t, b))
            self.stats.fetched += 1
            stored += 1
        return stored
