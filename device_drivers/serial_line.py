"""One way to drive a device on a serial line: non-blocking pyserial, watched by the event loop.

Every serial driver (EM4100, Wiegand, QR, turnstile relay boards) is a :class:`SerialLineDriver`.
It names a decoder (a sans-IO codec with ``feed`` and ``flush``) and says what to do with each good
item; this module does the rest, the same way for all of them:

* open the port non-blocking and *exclusive* (a second process on the line would steal half of the
  bytes), with the line settings of the device's profile (baud, data bits, parity, stop bits);
* read with ``loop.add_reader``, no thread; ``EIO`` or end-of-file means the port went away (a USB
  adapter pulled, a pty closed): :meth:`SerialLineDriver.read` raises :class:`LinkLost` and
  :meth:`LinkDriver.run` reopens the same path with backoff;
* once the line has been quiet for ``idle_flush_s``, let the decoder report a pending bad run (a
  line still arriving is left alone), and give the driver a :meth:`SerialLineDriver.on_tick`
  about every ``idle_flush_s`` (for timeouts of its own);
* count every rejected run under its problem's name in ``stats.errors``;
* write without ever blocking: bytes that cannot be written whole are dropped and counted
  (``feedback_dropped``), never waited for.

:class:`SerialReaderDriver` adds what card readers share: one read per card however long it is
held (repeat suppression) and the decision lines for the controller on the same line::

    GRANT <entry|exit|-> <ref|->\\r\\n
    DENY <reason> <ref|->\\r\\n

(templates with ``{direction}``, ``{reason}`` and ``{ref}``; a device profile may change them, and
an empty template means the device takes no feedback, e.g. a bare scanner).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import serial

from device_drivers.base import CardRead, Feedback, LinkDriver, LinkLost, ReadSink, utcnow
from shared.contract import CredentialKind

__all__ = [
    "Rejected",
    "SerialLineConfig",
    "SerialLineDriver",
    "SerialReaderConfig",
    "SerialReaderDriver",
    "StreamDecoder",
]

T = TypeVar("T")
_WORD = re.compile(r"\s+")
_SUPPRESS_MEMORY = 1024  # cards remembered for repeat suppression before old ones are forgotten


@runtime_checkable
class Rejected(Protocol):
    """What a decoder reports for bytes it threw away; ``problem.value`` is the counter's name.

    Good items must not have a ``problem`` attribute: that is how the two are told apart.
    """

    @property
    def problem(self) -> StrEnum: ...


class StreamDecoder(Protocol[T]):
    """A sans-IO codec: ``feed`` whatever the port gave, ``flush`` when the line goes quiet."""

    def feed(self, data: bytes) -> Sequence[T | Rejected]: ...

    def flush(self) -> Sequence[T | Rejected]: ...


@dataclass(frozen=True, slots=True)
class SerialLineConfig:
    """One device on one serial port: its id, the port and the line settings (9600 8N1 by default).

    ``reader_id`` is the device's id as the gateway knows it: a reader's, or a relay board's.
    """

    reader_id: str
    port: str
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"  # pyserial's letters: N, E, O, M, S
    stopbits: float = 1


@dataclass(frozen=True, slots=True)
class SerialReaderConfig(SerialLineConfig):
    """A card reader on a serial port. ``None`` line templates keep the driver's defaults."""

    repeat_suppress_s: float = 1.5
    grant_line: str | None = None
    deny_line: str | None = None


class SerialLineDriver(LinkDriver, Generic[T]):
    """A device on one serial port: opens, reads and writes it; subclasses say what the bytes mean."""

    idle_flush_s = 0.5  # a bad run with nothing after it is reported once the line is this quiet

    def __init__(self, config: SerialLineConfig) -> None:
        super().__init__()
        self.config = config
        self.link_id = config.reader_id
        self.reader_ids = (config.reader_id,)
        self._serial: serial.Serial | None = None

    @abstractmethod
    def new_decoder(self) -> StreamDecoder[T]:
        """A fresh decoder for a freshly opened line (nothing carries over a reconnect)."""

    @abstractmethod
    def received(self, item: T, sink: ReadSink) -> None:
        """Handle one good item the decoder produced (rejected ones are counted already)."""

    def on_tick(self, sink: ReadSink) -> None:
        """Called about every ``idle_flush_s`` while the line is open; nothing by default."""

    async def open(self) -> None:
        """Open the port non-blocking; a missing port raises ``OSError`` and ``run()`` retries."""
        c = self.config
        self._serial = serial.Serial(
            c.port,
            c.baud,
            bytesize=c.bytesize,
            parity=c.parity,
            stopbits=c.stopbits,
            timeout=0,
            write_timeout=0,
            exclusive=True,
        )

    async def read(self, sink: ReadSink) -> None:
        """Decode bytes as they arrive until the port goes away (then raise :class:`LinkLost`)."""
        port = self._serial
        if port is None:
            raise LinkLost("port is not open")
        fd = port.fileno()
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        decoder = self.new_decoder()
        last_data = loop.time()

        def readable() -> None:
            nonlocal last_data
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError as exc:
                # EIO: the other end hung up (USB adapter pulled, pty master closed)
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_result(errno.errorcode.get(exc.errno or 0, str(exc)))
                return
            if not data:
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_result("end of file")
                return
            last_data = loop.time()
            self._dispatch(decoder.feed(data), sink)

        loop.add_reader(fd, readable)
        try:
            while not lost.done():
                # asyncio.wait, not wait_for: on 3.11 wait_for swallows a cancellation that arrives
                # as the line hangs up, and the driver would then never stop.
                await asyncio.wait({lost}, timeout=self.idle_flush_s)
                if loop.time() - last_data >= self.idle_flush_s:
                    self._dispatch(decoder.flush(), sink)
                self.on_tick(sink)
            raise LinkLost(f"{self.config.port}: {lost.result()}")
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(fd)

    def _dispatch(self, items: Sequence[T | Rejected], sink: ReadSink) -> None:
        for item in items:
            if isinstance(item, Rejected):
                self.stats.error(item.problem.value)
            else:
                self.received(item, sink)

    async def close(self) -> None:
        """Close the port if it is open."""
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def write(self, data: bytes) -> bool:
        """Write ``data`` whole without blocking; False (counted ``feedback_dropped``) if it cannot."""
        port = self._serial
        if port is None:
            self.stats.error("feedback_dropped")
            return False
        try:
            written = os.write(port.fileno(), data)
        except OSError:  # EAGAIN (the device is not reading) or EIO (gone)
            self.stats.error("feedback_dropped")
            return False
        if written < len(data):
            self.stats.error("feedback_dropped")  # half a line: the device discards it at the next line end
            return False
        self.stats.feedback_sent += 1
        return True


class SerialReaderDriver(SerialLineDriver[T]):
    """A card reader on a serial line: good items become card reads; decisions go back as lines.

    Counters (``stats.errors``), besides the codec's problems: ``repeat_suppressed`` (a card still
    held on the reader) and ``feedback_dropped``.
    """

    kind: ClassVar[CredentialKind]
    grant_line = "GRANT {direction} {ref}\r\n"
    deny_line = "DENY {reason} {ref}\r\n"

    def __init__(self, config: SerialReaderConfig) -> None:
        super().__init__(config)
        self.reader_config = config
        if config.grant_line is not None:
            self.grant_line = config.grant_line
        if config.deny_line is not None:
            self.deny_line = config.deny_line
        self._last_seen: dict[str, float] = {}

    @abstractmethod
    def credential(self, item: T) -> str:
        """The credential text of a good item (what the gateway hashes and the roster knows)."""

    def received(self, item: T, sink: ReadSink) -> None:
        """Report a card read unless the same card was seen within ``repeat_suppress_s``."""
        credential = self.credential(item)
        now = time.monotonic()
        last = self._last_seen.get(credential)
        # Sliding window: a card held on the reader repeats every ~0.1 s and must stay one read
        # however long it is held, so every repeat extends the window.
        self._last_seen[credential] = now
        window = self.reader_config.repeat_suppress_s
        if last is not None and now - last < window:
            self.stats.error("repeat_suppressed")
            return
        if len(self._last_seen) > _SUPPRESS_MEMORY:
            self._last_seen = {c: t for c, t in self._last_seen.items() if t >= now - window}
        self.stats.reads += 1
        sink.card_read(CardRead(self.config.reader_id, credential, self.kind, utcnow()))

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Write one line to the controller; never blocks, dropped (and counted) if it cannot."""
        line = self.feedback_line(feedback)
        if line:
            self.write(line)

    def feedback_line(self, feedback: Feedback) -> bytes:
        """The bytes written for ``feedback``: a single line, fields without white space."""
        ref = _word(feedback.ref) or "-"
        reason = _word(feedback.reason) or "-"
        if feedback.granted:
            direction = feedback.unlock.value if feedback.unlock else "-"
            text = self.grant_line.format(direction=direction, ref=ref, reason=reason)
        else:
            text = self.deny_line.format(direction="-", reason=reason, ref=ref)
        return text.encode("ascii", errors="replace")


def _word(value: str | None) -> str:
    # A reason with spaces (or a newline) would break the controller's one-line, space-separated format.
    return _WORD.sub("_", value.strip()) if value else ""
