"""read → decide → record durably → feedback, with group commit.

Drivers hand reads to :class:`Pipeline` (it is their :class:`~device_drivers.base.ReadSink`).
The pipeline takes everything that is waiting, decides each read, commits all of their events
in one transaction, and only then tells each reader its answer. While one commit is on disk the
next reads queue up and go into the next commit together: one fsync serves many taps, and no
grant is ever given for an event that is not on disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from uuid6 import uuid7

from cloud_api.contract import Decision, EventKind, credential_hash
from cloud_api.core.localtime import LOCAL_TZ
from device_drivers.base import CardRead, Direction, Feedback, StatusChange
from gateway.outbox import Recorded
from gateway.policy import AccessPoint, Policy
from gateway.storage import Storage
from mektep.i18n import Translator, translator

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
    commits: int = 0


class Pipeline:
    """Decides each read, records it durably, then gives feedback; one instance per gateway."""

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
        max_group: int = 512,
        language: str = "kk",
    ) -> None:
        self.school_id = school_id
        self.gateway_id = gateway_id
        self._credential_key = credential_key
        self._storage = storage
        self._policy = policy
        self._points = points
        self._feedback = feedback
        self._on_recorded = on_recorded
        self._max_group = max_group
        self._ = translator(language)
        self._queue: asyncio.Queue[CardRead | StatusChange] = asyncio.Queue()
        self.stats = PipelineStats()

    # ReadSink: called by drivers on the event loop; never blocks.
    def card_read(self, read: CardRead) -> None:
        """Queue a read for the next group commit."""
        self._queue.put_nowait(read)

    def status_changed(self, change: StatusChange) -> None:
        """Queue a device status change; it is recorded as a ``device_status`` event."""
        self._queue.put_nowait(change)

    async def run(self) -> None:
        """Process reads until cancelled; what is queued when cancelled is not processed."""
        while True:
            items = [await self._queue.get()]
            while len(items) < self._max_group and not self._queue.empty():
                items.append(self._queue.get_nowait())
            await self.process(items)

    async def process(self, items: list[CardRead | StatusChange]) -> list[Recorded]:
        """Decide, record in one transaction, then give feedback for every read in ``items``."""
        drafts: list[dict[str, Any]] = []
        refs: list[str | None] = []
        for item in items:
            if isinstance(item, CardRead):
                drafts.append(self._decide(item))
                refs.append(item.ref)
            else:
                drafts.append(self._status_draft(item))
                refs.append(None)
        try:
            recorded = await self._storage.call(lambda outbox: outbox.record(drafts, refs))
        except Exception:
            # Nothing was recorded, so nobody is granted: a grant without a record would be lost.
            log.exception("recording %d events failed", len(drafts))
            self.stats.storage_errors += 1
            for item in items:
                if isinstance(item, CardRead):
                    display = _display(self._, EventKind.DENIED, False, "storage_error")
                    self._feedback(item.reader_id, Feedback(False, "storage_error", display, ref=item.ref))
            return []
        self.stats.commits += 1
        for item, rec in zip(items, recorded, strict=True):
            if isinstance(item, CardRead):
                self._answer(item, rec)
            else:
                self.stats.status_events += 1
        self._on_recorded()
        return recorded

    def _decide(self, read: CardRead) -> dict[str, Any]:
        point = self._points.get(read.reader_id)
        verdict = self._policy.decide(read, point)
        return {
            "id": uuid7(),
            "school_id": self.school_id,
            "gateway_id": self.gateway_id,
            "device_id": read.reader_id,
            "kind": verdict.kind,
            "person_id": verdict.person_id,
            "credential_kind": read.kind,
            "credential_hash": credential_hash(self._credential_key, read.credential),
            "occurred_at": read.at.astimezone(LOCAL_TZ),
            "decision": verdict.decision,
            "reason": verdict.reason,
            "judged_without_roster": verdict.judged_without_roster,
            "meal": verdict.meal,
        }

    def _status_draft(self, change: StatusChange) -> dict[str, Any]:
        return {
            "id": uuid7(),
            "school_id": self.school_id,
            "gateway_id": self.gateway_id,
            "device_id": change.device_id,
            "kind": EventKind.DEVICE_STATUS,
            "occurred_at": change.at.astimezone(LOCAL_TZ),
            "decision": Decision.RECORDED,
            "reason": change.state.value,
        }

    def _answer(self, read: CardRead, rec: Recorded) -> None:
        event = rec.event
        granted = event.decision is Decision.GRANTED
        self.stats.reads += 1
        if not rec.new:
            self.stats.repeats += 1
        elif granted:
            self.stats.granted += 1
        else:
            self.stats.denied += 1
        unlock = {EventKind.ENTRY: Direction.ENTRY, EventKind.EXIT: Direction.EXIT}.get(event.kind)
        self._feedback(
            read.reader_id,
            Feedback(
                granted,
                event.reason,
                display=_display(self._, event.kind, granted, event.reason),
                unlock=unlock if granted else None,
                ref=read.ref,
            ),
        )


GREETINGS = {EventKind.ENTRY: "Welcome", EventKind.EXIT: "Goodbye", EventKind.MEAL: "Enjoy your meal"}


def _display(_: Translator, kind: EventKind, granted: bool, reason: str) -> str:
    """The short text a reader's screen or a terminal shows, in the school's language."""
    if granted:
        return _(GREETINGS.get(kind, "Welcome"))
    return f"{_('Access denied')}: {_(reason)}"
