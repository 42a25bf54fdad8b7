"""The packet journal's retention. The caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from cloud_api.background.queue import PENDING
from cloud_api.db.schema import nedb_packets, packets, webhook_deliveries

__all__ = ["prune_packets"]


def prune_packets(conn: Connection, now: datetime, retention_days: int) -> int:
    """Delete journalled packets received more than ``retention_days`` before ``now``; their count.

    The events those packets delivered stay (their ``batch_id`` then names a pruned packet).
    Replay detection is unaffected: a signature that old fails the timestamp check anyway. The
    packets exchanged with the NEDB (``nedb_packets``) are kept as long, and pruned with them, and so
    are the webhook messages settled (delivered, skipped or cancelled): one a tap a subscription, they
    would otherwise grow without end. A message still waiting is never pruned, however old.
    """
    cutoff = now - timedelta(days=retention_days)
    gone = int(conn.execute(packets.delete().where(packets.c.received_at < cutoff)).rowcount)
    gone += int(conn.execute(nedb_packets.delete().where(nedb_packets.c.at < cutoff)).rowcount)
    settled = webhook_deliveries.delete().where(
        webhook_deliveries.c.state != PENDING, webhook_deliveries.c.created_at < cutoff
    )
    return gone + int(conn.execute(settled).rowcount)
