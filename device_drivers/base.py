"""The one interface every reader and terminal driver implements.

A driver adapts one *link* (a serial port, an RS-485 bus, a broker connection) that may carry
several readers. It turns bytes into :class:`CardRead` records and takes :class:`Feedback` back.
It knows nothing of students, schools or policy.

Lifecycle, the same verbs for every protocol (Home Assistant's integration shape):

    open()  ->  read(sink) until the link drops  ->  close()  ->  wait (backoff)  ->  open() ...

:meth:`LinkDriver.run` owns that loop; a protocol only writes ``open``, ``read``, ``close`` and
``feedback``. Concurrency: one asyncio event loop per process. ``feedback`` and the sink's methods
are called on the loop and must never block it.

Errors::

    DriverError              base of what a driver raises on purpose
    └── LinkLost             the port or connection went away; run() reconnects
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from shared.contract import CredentialKind

__all__ = [
    "CardRead",
    "Direction",
    "DriverError",
    "DriverStats",
    "Feedback",
    "LinkDriver",
    "LinkLost",
    "LinkState",
    "ReadSink",
    "StatusChange",
    "utcnow",
]

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every record carries)."""
    return datetime.now(UTC)


class Direction(StrEnum):
    """Which way a turnstile reader lets people through."""

    ENTRY = "entry"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class CardRead:
    """A credential presented at a reader, as the reader reported it.

    ``credential`` is the normalised text of the card number or code (upper-case hex for
    EM4100). ``ref`` is the device's own id for this tap when it has one (an MQTT terminal's
    tap id), so that a redelivered message is recognised as the same tap.
    """

    reader_id: str
    credential: str
    kind: CredentialKind
    at: datetime
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the person at the reader is told: grant or deny, with a reason and display text.

    ``display`` is already in the person's language. ``unlock`` asks a turnstile to open that
    way (only with a grant). ``person`` and ``group`` (the child's name and class) are shown by
    terminals that have a screen, when the roster knows them. Each driver renders the rest the
    way its device can: an LED colour and a buzzer pattern, a relay pulse, a terminal's colour
    and sound.
    """

    granted: bool
    reason: str
    display: str = ""
    unlock: Direction | None = None
    ref: str | None = None
    person: str | None = None
    group: str | None = None


class LinkState(StrEnum):
    """The health of a link or a reader, reported as device events."""

    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A link or reader came up, went down or misbehaved."""

    device_id: str
    state: LinkState
    detail: str
    at: datetime


class ReadSink(Protocol):
    """Where a driver hands what it read. Both methods are non-blocking and called on the loop."""

    def card_read(self, read: CardRead) -> None: ...

    def status_changed(self, change: StatusChange) -> None: ...


@dataclass
class DriverStats:
    """Counters a driver keeps; the gateway exports them as metrics."""

    reads: int = 0
    feedback_sent: int = 0
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def error(self, kind: str, count: int = 1) -> None:
        """Count ``count`` errors of ``kind`` (a short snake_case reason)."""
        self.errors[kind] += count


class DriverError(Exception):
    """Base of the errors a driver raises on purpose."""


class LinkLost(DriverError):
    """The port or connection went away; :meth:`LinkDriver.run` will reconnect."""


class LinkDriver(ABC):
    """Base class for a driver of one link: owns the reconnect loop, the stats and the status.

    Subclasses set ``link_id`` and ``reader_ids`` and implement :meth:`open`, :meth:`read`,
    :meth:`close` and :meth:`feedback`.
    """

    link_id: str
    reader_ids: tuple[str, ...]
    reconnect_initial_s: float = 0.2
    reconnect_max_s: float = 5.0

    def __init__(self) -> None:
        self.stats = DriverStats()
        self.online: bool | None = None  # None until the first open attempt

    @abstractmethod
    async def open(self) -> None:
        """Open the link. Raise :class:`LinkLost` (or ``OSError``) if it is not there."""

    @abstractmethod
    async def read(self, sink: ReadSink) -> None:
        """Read until the link drops (raise :class:`LinkLost`) or the task is cancelled."""

    @abstractmethod
    async def close(self) -> None:
        """Release the link. Safe to call when it is already closed."""

    @abstractmethod
    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Tell the person at ``reader_id`` the decision. Must not block; drop if offline."""

    async def run(self, sink: ReadSink) -> None:
        """Open, read and reconnect with capped backoff until cancelled; close on the way out."""
        delay = self.reconnect_initial_s
        try:
            while True:
                try:
                    await self.open()
                except (OSError, DriverError) as exc:
                    self._set_online(sink, False, f"open failed: {exc}")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.reconnect_max_s)
                    continue
                delay = self.reconnect_initial_s
                self._set_online(sink, True, "link open")
                try:
                    await self.read(sink)
                except (OSError, DriverError) as exc:
                    log.warning("%s: link lost: %s", self.link_id, exc)
                    self._set_online(sink, False, f"link lost: {exc}")
                finally:
                    await self.close()
                self.stats.reconnects += 1
                await asyncio.sleep(delay)
        finally:
            await self.close()
            if self.online:
                self._set_online(sink, False, "stopped")

    def _set_online(self, sink: ReadSink, online: bool, detail: str) -> None:
        if online == self.online:
            return  # report changes only, not every failed reconnect attempt
        self.online = online
        sink.status_changed(
            StatusChange(self.link_id, LinkState.ONLINE if online else LinkState.OFFLINE, detail, utcnow())
        )
