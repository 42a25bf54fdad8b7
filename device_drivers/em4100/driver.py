"""EM4100 readers (RDM6300 and alike) on a serial port, read without a thread.

The port is opened non-blocking with pyserial and watched by the event loop (``add_reader``).
When the port disappears (a USB adapter pulled, the far end of a pty closed) the read fails with
``EIO`` or returns end-of-file; :meth:`Em4100Driver.read` then raises :class:`LinkLost` and
:meth:`LinkDriver.run` reopens the same path with backoff.

RDM6300 modules cannot show anything, so readers are wired through a small controller on the same
line that takes one ASCII line per decision (class-level defaults, overridable per reader)::

    GRANT <entry|exit|-> <ref|->\\r\\n
    DENY <reason> <ref|->\\r\\n
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import time
from dataclasses import dataclass

import serial

from cloud_api.contract import CredentialKind
from device_drivers.base import CardRead, Feedback, LinkDriver, LinkLost, ReadSink, utcnow
from device_drivers.em4100.codec import Decoder, Frame, FrameError

__all__ = ["Em4100Config", "Em4100Driver"]

_WORD = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Em4100Config:
    """One reader on one serial port. ``None`` line templates keep the driver's defaults."""

    reader_id: str
    port: str
    baud: int = 9600
    repeat_suppress_s: float = 1.5
    grant_line: str | None = None
    deny_line: str | None = None


class Em4100Driver(LinkDriver):
    """Turns EM4100 frames into card reads; writes feedback lines back to the controller.

    Counters (``stats.errors``): one per :class:`~device_drivers.em4100.codec.FrameProblem`
    (``noise``, ``truncated``, ``bad_hex``, ``bad_checksum``, ``overlong``), plus
    ``repeat_suppressed`` and ``feedback_dropped``.
    """

    grant_line = "GRANT {direction} {ref}\r\n"
    deny_line = "DENY {reason} {ref}\r\n"
    idle_flush_s = 0.5  # noise with no frame after it is reported once the line is this quiet

    def __init__(self, config: Em4100Config) -> None:
        super().__init__()
        self.config = config
        self.link_id = config.reader_id
        self.reader_ids = (config.reader_id,)
        if config.grant_line is not None:
            self.grant_line = config.grant_line
        if config.deny_line is not None:
            self.deny_line = config.deny_line
        self._serial: serial.Serial | None = None
        self._last_seen: dict[str, float] = {}

    async def open(self) -> None:
        """Open the port non-blocking; a missing port raises ``OSError`` and ``run()`` retries."""
        # exclusive: a second process on the same line would steal half of the bytes
        self._serial = serial.Serial(self.config.port, self.config.baud, timeout=0, write_timeout=0, exclusive=True)

    async def read(self, sink: ReadSink) -> None:
        """Decode bytes as they arrive until the port goes away (then raise :class:`LinkLost`)."""
        port = self._serial
        if port is None:
            raise LinkLost("port is not open")
        fd = port.fileno()
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        decoder = Decoder()

        def readable() -> None:
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
            for item in decoder.feed(data):
                self._handle(item, sink)

        loop.add_reader(fd, readable)
        try:
            while not lost.done():
                # asyncio.wait, not wait_for: on 3.11 wait_for swallows a cancellation that arrives
                # as the line hangs up, and the driver would then never stop.
                await asyncio.wait({lost}, timeout=self.idle_flush_s)
                for error in decoder.flush():
                    self._handle(error, sink)
            raise LinkLost(f"{self.config.port}: {lost.result()}")
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(fd)

    def _handle(self, item: Frame | FrameError, sink: ReadSink) -> None:
        if isinstance(item, FrameError):
            self.stats.error(item.problem.value)
            return
        now = time.monotonic()
        last = self._last_seen.get(item.card)
        # Sliding window: a card held on the reader repeats its frame every ~0.1 s and must stay
        # one read however long it is held, so every repeat extends the window.
        self._last_seen[item.card] = now
        if last is not None and now - last < self.config.repeat_suppress_s:
            self.stats.error("repeat_suppressed")
            return
        if len(self._last_seen) > 1024:
            self._forget_before(now - self.config.repeat_suppress_s)
        self.stats.reads += 1
        sink.card_read(CardRead(self.config.reader_id, item.card, CredentialKind.EM4100, utcnow()))

    def _forget_before(self, cutoff: float) -> None:
        self._last_seen = {card: t for card, t in self._last_seen.items() if t >= cutoff}

    async def close(self) -> None:
        """Close the port if it is open."""
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Write one line to the controller; never blocks, dropped (and counted) if it cannot."""
        line = self.feedback_line(feedback)
        port = self._serial
        if port is None:
            self.stats.error("feedback_dropped")
            return
        try:
            written = os.write(port.fileno(), line)
        except OSError:  # EAGAIN (controller not reading) or EIO (gone)
            self.stats.error("feedback_dropped")
            return
        if written < len(line):
            self.stats.error("feedback_dropped")  # half a line: the controller discards it at the next CR LF
            return
        self.stats.feedback_sent += 1

    def feedback_line(self, feedback: Feedback) -> bytes:
        """The bytes written for ``feedback``: a single line, fields without white space."""
        ref = _word(feedback.ref) or "-"
        if feedback.granted:
            direction = feedback.unlock.value if feedback.unlock else "-"
            text = self.grant_line.format(direction=direction, ref=ref, reason=_word(feedback.reason) or "-")
        else:
            text = self.deny_line.format(reason=_word(feedback.reason) or "-", ref=ref)
        return text.encode("ascii", errors="replace")


def _word(value: str | None) -> str:
    # A reason with spaces (or a newline) would break the controller's one-line, space-separated format.
    return _WORD.sub("_", value.strip()) if value else ""
