"""read → decide → record durably → feedback, with group commit.

Drivers hand reads to :class:`Pipeline` (it is their :class:`~device_drivers.base.ReadSink`).
The pipeline decides each read as it arrives, commits the events of everything waiting in one
transaction, and only then tells each reader its answer. While one commit is on disk the next
reads are decided and queue up for the next commit together: one fsync serves many taps, and no
grant is ever given for an event that is not on disk.

When the disk is full (SQLite says SQLITE_FULL) the pipeline asks for the disk's reserve to be
released (:mod:`gateway.disk`) and commits once more. If even that fails, every tap of the group is
denied with ``storage_full`` and counted: no durable write, no grant. For a meal that is the
design's rule (a free meal that is not recorded cannot be counted once, nor reported). For a
turnstile too, deliberately: the turnstile's own emergency release (fire alarm, the guard's button)
does not depend on the gateway, and a school's guard lets a child through by hand and writes it
in the paper log, whereas a gateway that opened on taps it could not record would lose them
silently, with no notice to the parents. The reader says so ("not recorded, see the guard").
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import uuid_utils

from device_drivers.base import CardRead, Direction, Feedback, StatusChange
from gateway.storage import Storage
from gateway.taps.charges import add_charges
from gateway.taps.drafts import CredentialHasher, Draft
from gateway.taps.outbox import Recorded
from gateway.taps.policy import AccessPoint, Policy, Reason, Verdict
from gateway.taps.wallet_codes import keep_codes
from shared.contract import CredentialKind, Decision, EventKind, ManualEntry
from shared.i18n import Translator, translator
from shared.localtime import LOCAL_TZ
from shared.wallet_qr import credential_of

__all__ = ["Pipeline", "PipelineStats"]

log = logging.getLogger(__name__)

FeedbackFn = Callable[[str, Feedback], None]


@dataclass
class PipelineStats:
    """What the live view and the metrics show."""

    reads: int = 0
    granted: int = 0
    denied: int = 0
    repeats: int = 0
    status_events: int = 0
    storage_errors: int = 0
    storage_full: int = 0  # commits that failed for want of disk, even after the reserve went
    policy_errors: int = 0
    commits: int = 0


class Pipeline:
    """Decides each read, records it durably, then gives feedback; one instance per gateway.

    A read is decided the moment it arrives, in arrival order, so that deciding the next reads
    overlaps the commit of the previous group on the storage thread.
    """

    def __init__(
        self,
        *,
        school_id: str,
        gateway_id: str,
        credential_key: bytes,
        storage: Storage,
        policy: Policy,
        points: Mapping[str, AccessPoint],
        feedback: FeedbackFn,
        on_recorded: Callable[[], None] = lambda: None,
        on_full: Callable[[], Awaitable[bool]] | None = None,
        max_group: int = 512,
        language: str = "kk",
    ) -> None:
        self.school_id = school_id
        self.gateway_id = gateway_id
        self._hash = CredentialHasher(credential_key)
        self._storage = storage
        self._policy = policy
        self._points = points
        self._feedback = feedback
        self._on_recorded = on_recorded
        self._on_full = on_full
        self._max_group = max_group
        self._language = language
        self._displays: dict[tuple[str, EventKind, bool, str], str] = {}
        self._decided: deque[_Decided] = deque()
        self._arrived = asyncio.Event()
        self.stats = PipelineStats()

    # ReadSink: called by drivers on the event loop; never blocks.
    def card_read(self, read: CardRead) -> None:
        """Decide a read now; its event goes into the next group commit."""
        self._decided.append(self._decide(read))
        self._arrived.set()

    def status_changed(self, change: StatusChange) -> None:
        """Queue a device status change; it is recorded as a ``device_status`` event."""
        self._decided.append(_Decided(None, None, self._status_draft(change)))
        self._arrived.set()

    async def run(self) -> None:
        """Commit what has been decided, group by group, until cancelled."""
        decided = self._decided
        while True:
            if not decided:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            group = [decided.popleft() for _ in range(min(len(decided), self._max_group))]
            await self._commit(group)

    async def process(self, items: list[CardRead | StatusChange]) -> list[Recorded]:
        """Decide ``items``, record them in one transaction, then give feedback for every read."""
        group = [
            self._decide(item) if isinstance(item, CardRead) else _Decided(None, None, self._status_draft(item))
            for item in items
        ]
        return await self._commit(group)

    async def _commit(self, group: list[_Decided]) -> list[Recorded]:
        drafts = [decided.draft for decided in group]
        codes = [d.verdict.wallet_code for d in group if d.verdict is not None and d.verdict.wallet_code is not None]
        try:
            recorded = await self._record(drafts, codes)
        except Exception as exc:
            # Nothing was recorded, so nobody is granted: a grant without a record would be lost.
            log.exception("recording %d events failed", len(drafts))
            self.stats.storage_errors += 1
            reason = "storage_full" if _disk_full(exc) else "storage_error"
            if reason == "storage_full":
                self.stats.storage_full += 1
            for read, verdict, _ in group:
                if verdict is not None:
                    self._policy.release(verdict)  # nobody was served: the meal is theirs again
                if read is not None:
                    language = verdict.language if verdict else None
                    display = self._display(language, EventKind.DENIED, False, reason)
                    self._feedback(read.reader_id, Feedback(False, reason, display, ref=read.ref))
            return []
        self.stats.commits += 1
        for (read, verdict, _), rec in zip(group, recorded, strict=True):
            if read is not None and verdict is not None:
                if not rec.new:
                    self._policy.release(verdict)  # a redelivered tap: the first one's meal stands
                self._answer(read, verdict, rec)
            else:
                self.stats.status_events += 1
        self._on_recorded()
        return recorded

    async def _record(self, drafts: list[Draft], codes: list[tuple[str, int]] | None = None) -> list[Recorded]:
        def also(conn: sqlite3.Connection, recorded: Sequence[Recorded]) -> None:
            # A meal's charge and a Wallet code's use commit with the event, or not at all.
            add_charges(conn, recorded)
            if codes:
                keep_codes(conn, codes)

        try:
            return await self._storage.call(lambda outbox: outbox.record(drafts, also=also))
        except sqlite3.Error as exc:
            if not _disk_full(exc) or self._on_full is None or not await self._on_full():
                raise
            log.warning("disk full: the reserve is released; recording %d events again", len(drafts))
            return await self._storage.call(lambda outbox: outbox.record(drafts, also=also))

    def _decide(self, read: CardRead) -> _Decided:
        point = self._points.get(read.reader_id)
        # A Social Wallet code changes every 30 s: its event is hashed by the child's voucher, as
        # stable as a card number. Any other text is hashed as it was read.
        credential = credential_of(read.credential) if read.kind is CredentialKind.QR else read.credential
        credential_hash = self._hash(credential)
        try:
            verdict = self._policy.decide(read, point, credential_hash)
        except Exception:
            # A policy bug must not stop the turnstile: deny, record why, and keep reading.
            log.exception("policy failed on a read at %s", read.reader_id)
            self.stats.policy_errors += 1
            verdict = Verdict(EventKind.DENIED, Decision.DENIED, Reason.POLICY_ERROR)
        # Without consent the event only counts: the card hash would identify the child too.
        draft = self._draft(
            read.reader_id, read.at, verdict, read.kind, None if verdict.anonymous else credential_hash, read.ref
        )
        return _Decided(read, verdict, draft)

    async def manual(self, device_id: str, at: datetime, verdict: Verdict, entry: ManualEntry) -> Recorded:
        """Record a decision staff asked for by hand (``verdict`` from the same rules as a tap).

        The event says who entered it and why. Raises when it could not be recorded: the screen
        then tells the staff member, and nobody is served on an event that is not on disk.
        """
        draft = self._draft(device_id, at, verdict, CredentialKind.MANUAL, None, None, entry)
        try:
            (recorded,) = await self._record([draft])
        except Exception as exc:
            self._policy.release(verdict)
            if _disk_full(exc):
                self.stats.storage_full += 1
            raise
        self.stats.commits += 1
        if verdict.granted:
            self.stats.granted += 1
        else:
            self.stats.denied += 1
        self._on_recorded()
        return recorded

    def _draft(
        self,
        device_id: str,
        at: datetime,
        verdict: Verdict,
        credential_kind: CredentialKind,
        credential_hash: str | None,
        ref: str | None,
        manual: ManualEntry | None = None,
    ) -> Draft:
        return Draft(
            id=str(uuid_utils.uuid7()),
            school_id=self.school_id,
            gateway_id=self.gateway_id,
            device_id=device_id,
            kind=verdict.kind,
            occurred_at=at.astimezone(LOCAL_TZ).isoformat(),
            decision=verdict.decision,
            reason=verdict.reason,
            person_id=verdict.person_id,
            credential_kind=credential_kind,
            credential_hash=credential_hash,
            judged_without_roster=verdict.judged_without_roster,
            meal=verdict.meal,
            ref=ref,
            local_person=verdict.local_person,
            local_day=verdict.local_day,
            manual=manual,
            reason_detail=verdict.detail,
        )

    def _status_draft(self, change: StatusChange) -> Draft:
        return Draft(
            id=str(uuid_utils.uuid7()),
            school_id=self.school_id,
            gateway_id=self.gateway_id,
            device_id=change.device_id,
            kind=EventKind.DEVICE_STATUS,
            occurred_at=change.at.astimezone(LOCAL_TZ).isoformat(),
            decision=Decision.RECORDED,
            reason=change.state.value,
        )

    def _answer(self, read: CardRead, verdict: Verdict, rec: Recorded) -> None:
        # A repeated tap gets the recorded answer; who it is and their language come from now.
        event = rec.event
        granted = event.granted
        self.stats.reads += 1
        if not rec.new:
            self.stats.repeats += 1
        elif granted:
            self.stats.granted += 1
        else:
            self.stats.denied += 1
        display = self._display(verdict.language, event.kind, granted, event.reason)
        if verdict.detail and rec.new:
            _ = translator(verdict.language or self._language)
            display = f"{display}: {', '.join(_(item) for item in verdict.detail)}"
        feedback = Feedback(
            granted,
            event.reason,
            display,
            UNLOCK.get(event.kind) if granted else None,
            read.ref,
            verdict.person_name,
            verdict.class_name,
        )
        self._feedback(read.reader_id, feedback)

    def _display(self, language: str | None, kind: EventKind, granted: bool, reason: str) -> str:
        """The short text a reader's screen or a terminal shows, in the person's language."""
        key = (language or self._language, kind, granted, reason)
        text = self._displays.get(key)
        if text is None:
            _: Translator = translator(key[0])
            text = _(GREETINGS.get(kind, "Welcome")) if granted else f"{_('Access denied')}: {_(reason)}"
            self._displays[key] = text
        return text


def _disk_full(exc: BaseException) -> bool:
    """True when SQLite failed for want of disk space."""
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class _Decided(NamedTuple):
    """A read (None for a device status), what the policy said of it, and the event to record."""

    read: CardRead | None
    verdict: Verdict | None
    draft: Draft


GREETINGS = {EventKind.ENTRY: "Welcome", EventKind.EXIT: "Goodbye", EventKind.MEAL: "Enjoy your meal"}
UNLOCK = {EventKind.ENTRY: Direction.ENTRY, EventKind.EXIT: Direction.EXIT}
