"""The durable outbox: every event the gateway makes, on disk before anyone is told "granted".

Contract (persist-queue's ``SQLiteAckQueue`` in one line of thought):

    record(drafts)  -> events with their seq, committed in one transaction (group commit)
    claim(limit)    -> the oldest undelivered events, in seq order; claim(limit, lane) those of
                       one lane: the live taps since the cloud came back, or the backlog before
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
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import sqlite_utils
from sqlite_utils import Migrations

from gateway.private_files import check_private, prepare_private
from gateway.taps.drafts import Draft
from shared.contract import EventResult, ResultStatus

__all__ = ["Claimed", "EventState", "Lane", "Outbox", "OutboxCounts", "Recorded", "open_database"]

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


@migrations()
def m006_local_passages(db: sqlite_utils.Database) -> None:
    # Entries and exits now carry their local day too (the roll call reads the day's passages
    # through events_local_day, never the months before). Those recorded before are given theirs
    # from their own local time, once, so that a gateway upgraded in the middle of a school day
    # still counts the morning. Granted passages are the only rows with a person and no day.
    db.execute(
        "UPDATE events SET local_day = substr(json_extract(body, '$.occurred_at'), 1, 10) "
        "WHERE local_day IS NULL AND local_person IS NOT NULL "
        "AND json_extract(body, '$.kind') IN ('entry', 'exit')"
    )


class EventState(IntEnum):
    """Where an event is on its way to the cloud."""

    PENDING = 0
    DELIVERED = 1
    REJECTED = 2


class Lane(Enum):
    """Two ways through the undelivered events, so that a backlog never delays a fresh tap.

    ``LIVE`` is what was recorded since the forwarder last (re)gained the cloud
    (:meth:`Outbox.mark_backlog`): a tap a parent waits to hear of. ``BACKLOG`` is what piled up
    before, drained oldest first beside it.
    """

    LIVE = "live"
    BACKLOG = "backlog"


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
    """Open (creating if needed) the gateway database with the outbox's durability settings.

    Refused (``ConfigError``) when other users may read the file or its directory; see
    :mod:`gateway.private_files`.
    """
    prepare_private(path)
    check_private(path)
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
        # The live lane is what was recorded after this mark, the backlog what was recorded up to it
        # (see :class:`Lane`); what a restart finds pending is backlog.
        self.live_from = self._last_seq
        self._lane_low = {Lane.LIVE: 0, Lane.BACKLOG: 0}

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

    def claim(self, limit: int, lane: Lane | None = None) -> list[Claimed]:
        """The oldest ``limit`` undelivered events of ``lane`` (of all when None), in seq order."""
        # Settled events lie below each walk's low-water mark, so the walk along seq starts where
        # the pending ones start rather than at the beginning of the table (no index on state).
        if lane is Lane.LIVE:
            start, end = max(self._lane_low[lane], self.live_from + 1), self._last_seq
        elif lane is Lane.BACKLOG:
            start, end = self._lane_low[lane], self.live_from
        else:
            start, end = self._low_water, self._last_seq
        rows = self.db.execute(
            "SELECT seq, id, body FROM events WHERE seq >= ? AND seq <= ? AND state = ? ORDER BY seq LIMIT ?",
            [start, end, EventState.PENDING, limit],
        ).fetchall()
        low = rows[0][0] if rows else end + 1
        if lane is None:
            self._low_water = low
        else:
            self._lane_low[lane] = low
        return [Claimed(seq, id_, body) for seq, id_, body in rows]

    @property
    def last_seq(self) -> int:
        """The seq of the last event recorded."""
        return self._last_seq

    def mark_backlog(self, upto: int | None = None) -> int:
        """Events up to seq ``upto`` (all recorded so far when None) are backlog, the later ones live.

        The mark only moves forward. The new mark.
        """
        self.live_from = max(self.live_from, self._last_seq if upto is None else upto)
        return self.live_from

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

    def prune(self, keep: timedelta, batch: int = 300) -> int:
        """Delete delivered events and packets older than ``keep``, batch after batch; how many events went."""
        cutoff = datetime.now(UTC) - keep
        total = 0
        while True:
            events, packets = self.prune_batch(cutoff, batch)
            total += events
            if events < batch and packets < batch:
                return total

    def prune_batch(self, cutoff: datetime, limit: int) -> tuple[int, int]:
        """Delete up to ``limit`` delivered events and packets settled or sent before ``cutoff``.

        One short transaction: the caller repeats it, letting taps commit in between. Only
        delivered events go: a pending one is not at the cloud yet, and a rejected one waits for
        an admin. (events, packets) deleted.
        """
        before = cutoff.isoformat()
        with self.db.atomic():
            # Delivered events are the oldest seqs: the walk along seq finds them first and stops.
            events = self.db.conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state = ? AND settled_at < ? "
                "ORDER BY seq LIMIT ?)",
                [EventState.DELIVERED, before, limit],
            ).rowcount
            packets = self.db.conn.execute(
                "DELETE FROM packets WHERE id IN (SELECT id FROM packets WHERE sent_at < ? ORDER BY id LIMIT ?)",
                [before, limit],
            ).rowcount
        self._counts["delivered"] -= events
        return events, packets

    def rejected_ids(self) -> list[UUID]:
        """Ids of events the cloud refused, for the admin to look at."""
        rows = self.db.execute("SELECT id FROM events WHERE state = ? ORDER BY seq", [EventState.REJECTED])
        return [UUID(r[0]) for r in rows]
