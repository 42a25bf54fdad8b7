"""One process of the deployment at a time: a PostgreSQL advisory lock held for a job's run.

Every API process may run the report schedule (``report_scheduler``); each run first tries the
deployment-wide lock of its name and, if another process holds it, leaves that run to it. The lock
is a session lock on the database (on Citus, on the coordinator, which every process is given), so
a process that dies mid-run frees it with its connection. SQLite has no second process to keep out.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator

from sqlalchemy import Engine, text

__all__ = ["exclusive"]


def _key(name: str) -> int:
    # The same number in every process and every release: a CRC of the name.
    return zlib.crc32(f"mektep:{name}".encode())


@contextlib.asynccontextmanager
async def exclusive(engine: Engine, name: str) -> AsyncIterator[bool]:
    """Whether this process holds the lock ``name`` for the block (False: another one does)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    conn = await asyncio.to_thread(engine.connect)
    try:
        held = await asyncio.to_thread(
            lambda: bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar_one())
        )
        await asyncio.to_thread(conn.commit)
        try:
            yield held
        finally:
            if held:
                await asyncio.to_thread(lambda: conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)}))
    finally:
        await asyncio.to_thread(conn.close)
