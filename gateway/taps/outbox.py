"""The durable outbox: every event the gateway makes, on disk before anyone is told "granted".

Contract (persist-queue's ``SQLiteAckQueue`` in one line of thought):

    record(drafts)  -> events with their seq, committed in one transaction (group commit)
    claim(limit)    -> the oldest undelivered events, in seq order
    settle(answers) -> mark each delivered (accepted/duplicate) or rejected, by the cloud's answer
    resume          -> nothing to do: "in flight" is never written down, so after a crash every
                       undelivered event is simply claimed again; the cloud's idempotent ingest
                       answers "duplicate" for what it already had.

Durability: WAL with ``synchronous=FULL``. WAL alone (``NORMAL``) survives a killed process but
may lose the last commits on power loss, and a school's gateway loses power; FULL fsyncs the WAL
on every commit, which measured ~0.3 ms here, and group commit spreads that over every tap that
arrived meanwhile.

One thread owns the connection (see :class:`gateway.storage.Storage`); nothing here is
thread-safe on its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import sqlite_utils
from sqlite_utils import Migrations

from gateway.taps.drafts import Draft
from shared.contract import EventResult, ResultStatus

__all__ = ["Claimed", "EventState", "Outbox", "OutboxCounts", "Recorded", "open_database"]

migrations = Migrations("mektep-gateway-outbox")


@migrations()
def m001_events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,           -- the gateway's own sequence, never reused
            id TEXT NOT NULL UNIQUE,           -- UUIDv7
            device_id TEXT NOT NULL,
            ref TEXT,                          -- the device's own tap id (MQTT), for dedupe
            kind TEXT NOT NULL,
            decision TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            body TEXT NOT NULL,                -- the Event exactly as it is sent
            state INTEGER NOT NULL DEFAULT 0,  -- EventState
            settled_at TEXT,
            settle_reason TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX events_device_ref ON events(device_id, ref) WHERE ref IS NOT NULL")
    db.execute("CREATE INDEX events_pending ON events(seq) WHERE state = 0")
    db.execute("CREATE TABLE seq_high_water (seq INTEGER NOT NULL)")
    db.execute("INSERT INTO seq_high_water VALUES (0)")


@migrations()
def m002_packets(db: sqlite_utils.Database) -> None:
    # Every batch sent, and the answer, kept with its signature and time: proof of what was sent.
    db.execute(
        """
        CREATE TABLE packets (
            id INTEGER PRIMARY KEY,
            sent_at TEXT NOT NULL,
            url TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            signature TEXT NOT NULL,
            body_sha256 TEXT NOT NULL,
            body BLOB NOT NULL,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            status_code INTEGER,
            response TEXT,
            error TEXT
        )
        """
    )


@migrations()
def m003_lean_events(db: sqlite_utils.Database) -> None:
    # Every index is written on every tap. The unique index on id and the copies of kind,
    # decision and time outside the body cost a quarter of the insert rate and served no query:
    # settle goes by seq, the page reads the body, and claim walks seq from a low-water mark.
    db.execute(
        """
        CREATE TABLE events_lean (
            seq INTEGER PRIMARY KEY,           -- the gateway's own sequence, never reused
            id TEXT NOT NULL,                  -- UUIDv7, unique by construction
            device_id TEXT NOT NULL,
            ref TEXT,                          -- the device's own tap id (MQTT), for dedupe
            body TEXT NOT NULL,                -- the Event exactly as it is sent
            state INTEGER NOT NULL DEFAULT 0,  -- EventState
            settled_at TEXT,
            settle_reason TEXT
        )
        """
    )
    # One statement each: the migration runs in one transaction, which executescript would end.
    db.execute(
        "INSERT INTO events_lean SELECT seq, id, device_id, ref, body, state, settled_at, settle_reason FROM events"
    )
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_lean RENAME TO events")
    db.execute("CREATE UNIQUE INDEX events_device_ref ON events(device_id, ref) WHERE ref IS NOT NULL")


@migrations()
def m004_local_meals(db: sqlite_utils.Database) -> None:
    # Who ate on which local day, kept beside the event (never sent): the policy rebuilds today's
    # meals from it after a restart, even for a child whose event carries no identity.
    db.execute("ALTER TABLE events ADD COLUMN local_person TEXT")
    db.execute("ALTER TABLE events ADD COLUMN local_day TEXT")
    db.execute("CREATE INDEX events_local_day ON events(local_day) WHERE local_day IS NOT NULL")


@migrations()
def m005_charges(db: sqlite_utils.Database) -> None:
    # Every paid meal this gateway ever served, per person, summed in the transaction that records
    # the meal: a prepaid balance is judged against it, offline and across restarts, whatever the
    # cloud has received yet. Never pruned with the events it sums.
    db.execute("CREATE TABLE charges (person_id TEXT PRIMARY KEY, charged_tiyn INTEGER NOT NULL)")


class EventState(IntEnum):
    """Where an event is on its way to the cloud."""

    PENDING = 0
    DELIVERED = 1
    REJECTED = 2


class Recorded(NamedTuple):
    """A draft as the outbox holds it; ``new`` is False when the device's tap was seen before."""

    seq: int
    event: Draft
    new: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    """An undelivered event ready to send: its seq and its serialised body."""

    seq: int
    id: str
    body: str


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """How many events the gateway holds, by state."""

    recorded: int  # since the last prune
    pending: int
    delivered: int
    rejected: int


def open_database(path: Path) -> sqlite_utils.Database:
    """Open (creating if needed) the gateway database with the outbox's durability settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    with db.ensure_autocommit_on():
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
    migrations.apply(db)
    return db


class Outbox:
    """The events table of the gateway database, with the counters the live view shows."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        # AUTOINCREMENT-like: MAX(seq) would reuse numbers after a prune, sqlite_sequence would
        # not exist for an INTEGER PRIMARY KEY, so the high-water mark lives in its own table.
        self._last_seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM seq_high_water").fetchone()[0])
        self._counts = self._count_states()
        self._low_water = 0  # no pending event has a lower seq (see claim)

    def _count_states(self) -> dict[str, int]:
        rows = dict(self.db.execute("SELECT state, COUNT(*) FROM events GROUP BY state").fetchall())
        return {s.name.lower(): int(rows.get(s.value, 0)) for s in EventState}

    def counts(self) -> OutboxCounts:
        """Counts by state, kept in memory and updated with every commit."""
        c = self._counts
        return OutboxCounts(
            recorded=c["pending"] + c["delivered"] + c["rejected"],
            pending=c["pending"],
            delivered=c["delivered"],
            rejected=c["rejected"],
        )

    def record(
        self, drafts: Sequence[Draft], *, also: Callable[[sqlite3.Connection, Sequence[Recorded]], None] | None = None
    ) -> list[Recorded]:
        """Give each draft the next seq and commit them all in one transaction (group commit).

        A draft whose ``(device_id, ref)`` was recorded before is not recorded again: the earlier
        event is returned with ``new=False`` so that the device is told the same answer twice.
        ``also`` runs in the same transaction with what was recorded (the canteen's charges:
        :func:`gateway.taps.charges.add_charges`), so that both commit or neither does.
        """
        out: list[Recorded] = []
        rows: list[tuple[Any, ...]] = []
        in_group: dict[tuple[str, str], Recorded] = {}
        seq = self._last_seq
        with self.db.atomic():
            for draft in drafts:
                if draft.ref is not None:
                    key = (draft.device_id, draft.ref)
                    earlier = in_group.get(key) or self._find_ref(*key)
                    if earlier is not None:
                        out.append(earlier)
                        continue
                seq += 1
                rec = Recorded(seq, draft, new=True)
                if draft.ref is not None:
                    in_group[(draft.device_id, draft.ref)] = Recorded(seq, draft, new=False)
                rows.append(
                    (seq, draft.id, draft.device_id, draft.ref, draft.body(seq), draft.local_person, draft.local_day)
                )
                out.append(rec)
            self.db.conn.execute("UPDATE seq_high_water SET seq = ?", [seq])
            self.db.conn.executemany(
                "INSERT INTO events (seq, id, device_id, ref, body, local_person, local_day) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if also is not None:
                also(self.db.conn, out)
        self._last_seq = seq
        self._counts["pending"] += len(rows)
        return out

    def _find_ref(self, device_id: str, ref: str) -> Recorded | None:
        row = self.db.execute("SELECT body FROM events WHERE device_id = ? AND ref = ?", [device_id, ref]).fetchone()
        if row is None:
            return None
        seq, draft = Draft.from_body(row[0], ref)
        return Recorded(seq, draft, new=False)

    def meals_on(self, day: str) -> list[tuple[str, dict[str, Any]]]:
        """The meals granted on local ``day`` (YYYY-MM-DD): (person, the event's meal) each."""
        rows = self.db.execute(
            "SELECT local_person, json_extract(body, '$.meal') FROM events "
            "WHERE local_day = ? AND local_person IS NOT NULL",
            [day],
        ).fetchall()
        return [(person, json.loads(meal)) for person, meal in rows if meal is not None]

    def claim(self, limit: int) -> list[Claimed]:
        """The oldest ``limit`` undelivered events, in seq order."""
        # Settled events lie below the low-water mark, so the walk along seq starts where the
        # pending ones start rather than at the beginning of the table (no index on state).
        rows = self.db.execute(
            "SELECT seq, id, body FROM events WHERE seq >= ? AND state = ? ORDER BY seq LIMIT ?",
            [self._low_water, EventState.PENDING, limit],
        ).fetchall()
        self._low_water = rows[0][0] if rows else self._last_seq + 1
        return [Claimed(seq, id_, body) for seq, id_, body in rows]

    def oldest_pending(self) -> datetime | None:
        """When the oldest undelivered event happened (None when every event is settled).

        One walk along the primary key from the low-water mark, as :meth:`claim`'s: the events
        below it are settled, so the walk is short however long the outbox has been stalled.
        """
        row = self.db.execute(
            "SELECT seq, json_extract(body, '$.occurred_at') FROM events WHERE seq >= ? AND state = ? "
            "ORDER BY seq LIMIT 1",
            [self._low_water, EventState.PENDING],
        ).fetchone()
        if row is None:
            return None
        self._low_water = row[0]  # nothing pending lies below it: later walks start here
        return datetime.fromisoformat(row[1])

    def settle(self, answers: Mapping[int, EventResult], journal: dict[str, Any] | None = None) -> None:
        """Apply the cloud's answers, by seq (and keep the batch in the journal) atomically.

        Accepted and duplicate both mean the cloud holds the event; rejected events are kept
        with the cloud's reason, are not sent again and are counted for the admin to see.
        """
        now = datetime.now(UTC).isoformat()
        pending = EventState.PENDING
        delivered = [
            (EventState.DELIVERED, now, seq, pending)
            for seq, r in answers.items()
            if r.status is not ResultStatus.REJECTED
        ]
        rejected = [
            (EventState.REJECTED, now, r.reason or "rejected", seq, pending)
            for seq, r in answers.items()
            if r.status is ResultStatus.REJECTED
        ]
        with self.db.atomic():
            if journal is not None:
                self._journal(journal)
            cur = self.db.conn.executemany(
                "UPDATE events SET state = ?, settled_at = ? WHERE seq = ? AND state = ?", delivered
            )
            n_delivered = cur.rowcount
            cur = self.db.conn.executemany(
                "UPDATE events SET state = ?, settled_at = ?, settle_reason = ? WHERE seq = ? AND state = ?",
                rejected,
            )
            n_rejected = cur.rowcount
        self._counts["delivered"] += n_delivered
        self._counts["rejected"] += n_rejected
        self._counts["pending"] -= n_delivered + n_rejected

    def journal(self, packet: dict[str, Any]) -> None:
        """Keep a batch that got no per-event answer (a refusal or a transport error)."""
        with self.db.atomic():
            self._journal(packet)

    def _journal(self, packet: dict[str, Any]) -> None:
        self.db.conn.execute(
            "INSERT INTO packets (sent_at, url, timestamp, signature, body_sha256, body, first_seq, "
            "last_seq, status_code, response, error) VALUES (:sent_at, :url, :timestamp, :signature, "
            ":body_sha256, :body, :first_seq, :last_seq, :status_code, :response, :error)",
            {"status_code": None, "response": None, "error": None, **packet},
        )

    def latest(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest events with their delivery state, newest first (for the local page)."""
        rows = self.db.execute(
            "SELECT body, state, settle_reason FROM events ORDER BY seq DESC LIMIT ?", [limit]
        ).fetchall()
        return [
            {**json.loads(body), "state": EventState(state).name.lower(), "settle_reason": reason}
            for body, state, reason in rows
        ]

    def latest_at(self, device_ids: Sequence[str], limit: int = 20) -> list[dict[str, Any]]:
        """The newest events of some devices, newest first, each with the person it was about.

        ``local_person`` is the roster id even when the event itself carries none (no consent):
        the canteen screen is on the gateway, and staff check the face against the name.
        """
        if not device_ids:
            return []
        marks = ", ".join("?" for _ in device_ids)  # placeholders only: the ids are bound
        rows = self.db.execute(
            f"SELECT body, local_person FROM events WHERE device_id IN ({marks}) ORDER BY seq DESC LIMIT ?",
            [*device_ids, limit],
        ).fetchall()
        return [{**json.loads(body), "local_person": person} for body, person in rows]

    def prune(self, keep: timedelta) -> int:
        """Delete settled events and packets older than ``keep``; pending ones are never deleted."""
        cutoff = (datetime.now(UTC) - keep).isoformat()
        with self.db.atomic():
            n = self.db.conn.execute(
                "DELETE FROM events WHERE state != ? AND settled_at < ?", [EventState.PENDING, cutoff]
            ).rowcount
            self.db.conn.execute("DELETE FROM packets WHERE sent_at < ?", [cutoff])
        self._counts = self._count_states()
        return n

    def rejected_ids(self) -> list[UUID]:
        """Ids of events the cloud refused, for the admin to look at."""
        rows = self.db.execute("SELECT id FROM events WHERE state = ? ORDER BY seq", [EventState.REJECTED])
        return [UUID(r[0]) for r in rows]
