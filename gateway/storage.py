"""One thread owns the gateway's SQLite connection; the event loop hands it work.

SQLite commits block (an fsync each), and the event loop must keep reading readers meanwhile,
so every outbox call runs on this single worker thread. Because all calls queue on one thread,
the outbox never needs locks and commits are naturally serialised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.taps.outbox import Outbox, open_database

__all__ = ["Storage"]

T = TypeVar("T")


class Storage:
    """The outbox, reachable from the event loop through :meth:`call`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._outbox: Outbox | None = None

    async def open(self) -> Outbox:
        """Open the database on the worker thread (sqlite3 connections stay on their thread)."""
        self._outbox = await self._run(lambda: Outbox(open_database(self.path)))
        return self._outbox

    @property
    def outbox(self) -> Outbox:
        """The open outbox. Only touch it through :meth:`call` (or read its in-memory counters)."""
        if self._outbox is None:
            raise RuntimeError("storage is not open")
        return self._outbox

    async def call(self, fn: Callable[[Outbox], T]) -> T:
        """Run ``fn(outbox)`` on the storage thread and return its result."""
        outbox = self.outbox
        return await self._run(lambda: fn(outbox))

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def close(self) -> None:
        """Close the connection on its own thread and stop the thread."""
        if self._outbox is not None:
            db = self._outbox.db
            await self._run(db.close)
            self._outbox = None
        self._executor.shutdown(wait=True)
