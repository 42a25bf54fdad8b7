"""Social Wallet codes the gateway has used up, on disk until they expire.

A dynamic QR code (:mod:`shared.wallet_qr`) is accepted once. The policy remembers each code it
used in memory (:meth:`gateway.taps.rules.RosterPolicy.remember_codes`); this module keeps them in
the gateway's database, written in the transaction that records the tap's event
(:meth:`gateway.taps.outbox.Outbox.record`'s ``also``), so a code and its event commit together,
and a restart reads them back: a replay is refused after a restart as before it. A code is
forgotten once no gateway would accept it anyway (its ``expires_at``). The table itself is made by
the outbox's migrations (``m007_wallet_codes``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from shared.wallet_qr import SKEW_S, STEP_S

__all__ = ["codes_in_force", "keep_codes"]


def keep_codes(conn: sqlite3.Connection, codes: Sequence[tuple[str, int]]) -> None:
    """Write the codes used by a group of taps, and drop those expired (in the caller's transaction).

    "Expired" is judged by the codes themselves, not the clock: each was accepted at a time no
    earlier than its expiry less a step and twice the skew, so a code that expired before that is
    one no gateway would accept any more.
    """
    if not codes:
        return
    accepted_after = min(expires for _, expires in codes) - STEP_S - 2 * SKEW_S
    conn.execute("DELETE FROM wallet_codes WHERE expires_at < ?", (accepted_after,))
    conn.executemany("INSERT OR IGNORE INTO wallet_codes (code, expires_at) VALUES (?, ?)", codes)


def codes_in_force(conn: sqlite3.Connection, now: float) -> list[tuple[str, int]]:
    """The codes used and not yet expired at Unix time ``now``: what a restart must still refuse."""
    rows = conn.execute("SELECT code, expires_at FROM wallet_codes WHERE expires_at >= ?", (int(now),))
    return [(code, int(expires)) for code, expires in rows]
