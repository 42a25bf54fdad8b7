"""The gateway's disk: a reserve that keeps taps committing, a floor, and retention pruning.

A full disk is a policy here, not an accident. In the order space runs out:

1. **Retention** (``storage.retention_days``, default 30): delivered events, journalled packets
   and photos the roster no longer names are deleted once older than that, a few hundred rows a
   transaction (:data:`PRUNE_BATCH`), each batch queued on the storage thread between taps, so a
   tap waits behind one small delete at most, never behind the whole sweep. Pending events (not
   yet at the cloud) and rejected ones (the cloud refused them: an admin must look) are never
   deleted, and neither are the charges that prepaid balances are judged against.
2. **The floor** (``storage.floor_mib``): under it the gateway is *low on disk*. What is not needed
   to decide and record a tap stops first: no photo is fetched or stored, the retention of
   delivered history shrinks to :data:`LOW_RETENTION` (today's events stay: the canteen rebuilds
   today's meals from them after a restart) and the reserve is released.
   The WAL is checkpointed every :data:`LOW_WAL_PAGES` pages rather than every 1,000, so that
   the commits reuse the WAL file from its start instead of growing it (a WAL grows to ~4 MiB
   between checkpoints, and a fresh one would eat the reserve before the database does).
3. **The reserve** (``storage.reserve_mib``, default 64 MiB): a file of real, allocated blocks in
   the data directory, made when there is room. Releasing it (deleting it) gives its blocks back to
   the filesystem for SQLite to grow into. Sized from a measurement (``mektep bench backlog``
   prints ``bytes_per_tap``): ~0.55 KB of outbox row and indexes per tap plus ~0.4 KB of its copy
   in the packet journal once it is delivered, ~1 KB a tap; a big school (3,000 pupils and staff,
   entry, exit, a meal or two, repeats) makes ~20,000 taps a day, ~20 MB: 64 MiB is three school
   days. It is remade, with hysteresis, once the free space is back over the floor plus twice its
   size (an operator cleaned up), so that releasing it never flaps.
4. **Nothing left**: a commit that fails with SQLITE_FULL first releases the reserve if it is still
   there and tries once more; if that fails too nobody is granted (see :mod:`gateway.taps.pipeline`).

Deleting rows does not shrink the database file: SQLite keeps the freed pages on its freelist and
reuses them for the next inserts before it grows the file by a byte. That is what pruning is for
here: the outbox stops growing. ``VACUUM`` would need as much free space again as the database
and lock out taps while it runs, and switching an existing database to incremental vacuum needs
that ``VACUUM`` once, so neither is done; the status reports the freelist as ``reusable_bytes``,
and ``available_bytes`` (free + reusable) is the figure that says how long the outbox can go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.roster import photos
from gateway.storage import Storage
from gateway.taps.outbox import Outbox

__all__ = ["LOW_RETENTION", "MIB", "PRUNE_BATCH", "RESERVE_NAME", "DiskGuard", "DiskStats"]

log = logging.getLogger(__name__)

PRUNE_BATCH = 300  # rows a transaction: a few ms of deleting, so a tap never waits long behind it
LOW_RETENTION = timedelta(days=1)  # delivered history kept under the floor
RESERVE_NAME = "reserve.bin"
LOW_WAL_PAGES = 64  # under the floor the WAL is checkpointed every 256 KiB instead of every 4 MiB
MIB = 1024 * 1024


@dataclass
class DiskStats:
    """What the status, the page and the health code show of the gateway's disk."""

    free_bytes: int = 0  # free on the data directory's filesystem, for this (unprivileged) process
    total_bytes: int = 0
    reusable_bytes: int = 0  # pages on SQLite's freelist: the next inserts fill them first
    available_bytes: int = 0  # free + reusable: room the outbox still has
    reserve_bytes: int = 0  # held by the reserve file now (0 when released)
    reserve_released: bool = False
    low: bool = False  # under the floor or living on the reserve: non-essential writes stopped
    pruned_events: int = 0
    pruned_packets: int = 0
    pruned_photos: int = 0
    last_prune_at: str = ""


class DiskGuard:
    """Keeps the reserve, watches the floor and prunes by retention, all on the storage thread."""

    def __init__(
        self,
        data_dir: Path,
        *,
        reserve_bytes: int = 64 * MIB,
        floor_bytes: int = 256 * MIB,
        retention: timedelta = timedelta(days=30),
        check_interval_s: float = 10.0,
        prune_interval_s: float = 3600.0,
    ) -> None:
        self.reserve_path = data_dir / RESERVE_NAME
        self._data_dir = data_dir
        self._reserve_bytes = reserve_bytes
        self._floor_bytes = floor_bytes
        self._retention = retention
        self._check_interval_s = check_interval_s
        self._prune_interval_s = prune_interval_s
        self.stats = DiskStats()

    # Everything below that touches the database runs on the storage thread (Storage.call).

    def check(self, outbox: Outbox | None = None) -> DiskStats:
        """Measure, release the reserve under the floor, remake it when there is room again."""
        free, total = self._free()
        held = self._held()
        if free < self._floor_bytes and held:
            self.release(outbox)
        elif not held and self._reserve_bytes and free >= self._floor_bytes + 2 * self._reserve_bytes:
            self._make_reserve()
        free, total = self._free()
        s = self.stats
        s.free_bytes, s.total_bytes = free, total
        s.reserve_bytes = self._held()
        s.reserve_released = self._reserve_bytes > 0 and s.reserve_bytes == 0
        # Living on the reserve is low too, until it is made again: the floor's measures stay.
        low = free < self._floor_bytes or s.reserve_released
        if outbox is not None and s.low != low:
            _wal_steps(outbox, low=low)
        s.low = low
        if outbox is not None:
            page_size, free_pages = (
                int(outbox.db.execute(f"PRAGMA {name}").fetchone()[0]) for name in ("page_size", "freelist_count")
            )
            s.reusable_bytes = page_size * free_pages
        s.available_bytes = s.free_bytes + s.reusable_bytes
        return s

    def release(self, outbox: Outbox | None = None) -> bool:
        """Delete the reserve file, giving its blocks to SQLite; True if there was one to release.

        With the outbox, the WAL is also checkpointed and kept short from now on, so that the next
        commits reuse the WAL file from its start rather than grow it into the reserve.
        """
        try:
            self.reserve_path.unlink()
        except FileNotFoundError:
            return False
        if outbox is not None:
            _wal_steps(outbox, low=True)
        log.warning("disk low: the %d MiB reserve is released for taps", self._reserve_bytes // MIB)
        self.stats.reserve_bytes = 0
        self.stats.reserve_released = True
        return True

    def prune(self, outbox: Outbox, now: datetime | None = None) -> int:
        """One batch of retention pruning (events, packets, photos); how many rows went."""
        now = now or datetime.now(UTC)
        keep = min(self._retention, LOW_RETENTION) if self.stats.low else self._retention
        cutoff = now - keep
        events, packets = outbox.prune_batch(cutoff, PRUNE_BATCH)
        gone_photos = photos.prune_batch(outbox.db, now, unnamed_for=timedelta(0) if self.stats.low else keep)
        s = self.stats
        s.pruned_events += events
        s.pruned_packets += packets
        s.pruned_photos += gone_photos
        s.last_prune_at = now.isoformat()
        return events + packets + gone_photos

    # On the event loop.

    async def sweep(self, storage: Storage) -> int:
        """Prune batch after batch until a batch comes back short; each its own transaction."""
        total = 0
        while True:
            n = await storage.call(self.prune)
            total += n
            if n < PRUNE_BATCH:
                return total
            await asyncio.sleep(0)  # let the queued taps go first

    async def run(self, storage: Storage) -> None:
        """Check every few seconds; sweep every prune interval, and at once when under the floor."""
        last_sweep = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            stats = await storage.call(self.check)
            if stats.low or loop.time() - last_sweep >= self._prune_interval_s:
                last_sweep = loop.time()
                try:
                    await self.sweep(storage)
                except Exception:  # a failed prune (a full disk can fail a DELETE's WAL write) waits for next time
                    log.exception("pruning failed")
            await asyncio.sleep(self._check_interval_s)

    def _free(self) -> tuple[int, int]:
        st = os.statvfs(self._data_dir)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def _held(self) -> int:
        try:
            return self.reserve_path.stat().st_blocks * 512
        except FileNotFoundError:
            return 0

    def _make_reserve(self) -> None:
        """Allocate the reserve's blocks for real (posix_fallocate), not a sparse file."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, self._reserve_bytes)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            fd = -1
            with contextlib.suppress(FileNotFoundError):
                self.reserve_path.unlink()
            log.warning("could not make the disk reserve: %s", exc)
        finally:
            if fd >= 0:
                os.close(fd)


def _wal_steps(outbox: Outbox, *, low: bool) -> None:
    """Checkpoint every few pages when low on disk (the WAL is then reused, not grown), else SQLite's 1,000."""
    outbox.db.execute(f"PRAGMA wal_autocheckpoint={LOW_WAL_PAGES if low else 1000}")
    if low:
        with contextlib.suppress(sqlite3.Error):  # a checkpoint that cannot finish now finishes later
            outbox.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
