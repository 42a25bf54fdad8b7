"""The packet journal's retention. The caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from cloud_api.db.schema import packets

__all__ = ["prune_packets"]


def prune_packets(conn: Connection, now: datetime, retention_days: int) -> int:
    """Delete journalled packets received more than ``retention_days`` before ``now``; their count.

    The events those packets delivered stay (their ``batch_id`` then names a pruned packet).
    Replay detection is unaffected: a signature that old fails the timestamp check anyway.
    """
    cutoff = now - timedelta(days=retention_days)
    return conn.execute(packets.delete().where(packets.c.received_at < cutoff)).rowcount
