"""EM4100 readers (RDM6300 and alike) on a serial port, read without a thread.

The port is opened non-blocking and watched by the event loop (``add_reader``). RDM6300 modules
cannot show anything, so readers are wired through a small controller on the same line that
takes one ASCII line per decision (strings below; a later issue makes them profile data):

    GRANT <entry|exit|-> <ref|->\\r\\n
    DENY <reason> <ref|->\\r\\n
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass

import serial

from cloud_api.contract import CredentialKind
from device_drivers.base import CardRead, Feedback, LinkDriver, LinkLost, ReadSink, utcnow
from device_drivers.em4100.codec import Decoder, Frame

__all__ = ["Em4100Config", "Em4100Driver"]


@dataclass(frozen=True, slots=True)
class Em4100Config:
    """One reader on one serial port."""

    reader_id: str
    port: str
    baud: int = 9600
    repeat_suppress_s: float = 1.5
    grant_line: str = "GRANT {direction} {ref}\r\n"
    deny_line: str = "DENY {reason} {ref}\r\n"


class Em4100Driver(LinkDriver):
    """Turns EM4100 frames into card reads; writes feedback lines back to the controller."""

    def __init__(self, config: Em4100Config) -> None:
        super().__init__()
        self.config = config
        self.link_id = config.reader_id
        self.reader_ids = (config.reader_id,)
        self._serial: serial.Serial | None = None
        self._last_seen: dict[str, float] = {}

    async def open(self) -> None:
        """Open the port non-blocking (a missing port raises and is retried)."""
        try:
            self._serial = serial.Serial(self.config.port, self.config.baud, timeout=0, write_timeout=0)
        except serial.SerialException as exc:
            raise LinkLost(str(exc)) from exc

    async def read(self, sink: ReadSink) -> None:
        """Decode bytes as they arrive until the port goes away."""
        port = self._serial
        assert port is not None
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        decoder = Decoder()

        def readable() -> None:
            try:
                data = os.read(port.fileno(), 4096)
            except OSError as exc:  # EIO: the other end of the line is gone (USB adapter unplugged)
                if not lost.done():
                    lost.set_result(str(exc))
                return
            if not data:
                if not lost.done():
                    lost.set_result("end of file")
                return
            for item in decoder.feed(data):
                self._handle(item, sink)

        loop.add_reader(port.fileno(), readable)
        try:
            while not lost.done():
                # Noise that is not followed by a frame is reported once the line goes quiet.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(lost), 1.0)
                for item in decoder.flush():
                    self._handle(item, sink)
            raise LinkLost(lost.result())
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(port.fileno())

    def _handle(self, item: Frame | object, sink: ReadSink) -> None:
        if not isinstance(item, Frame):
            self.stats.error(item.problem.value)  # type: ignore[attr-defined]
            return
        now = time.monotonic()
        last = self._last_seen.get(item.card)
        self._last_seen[item.card] = now
        if last is not None and now - last < self.config.repeat_suppress_s:
            self.stats.error("repeat_suppressed")
            return
        self.stats.reads += 1
        sink.card_read(CardRead(self.config.reader_id, item.card, CredentialKind.EM4100, utcnow()))

    async def close(self) -> None:
        """Close the port if it is open."""
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
            self._serial = None

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Write one line to the controller; dropped (and counted) if the port is down."""
        if feedback.granted:
            direction = feedback.unlock.value if feedback.unlock else "-"
            line = self.config.grant_line.format(direction=direction, ref=feedback.ref or "-")
        else:
            line = self.config.deny_line.format(reason=feedback.reason, ref=feedback.ref or "-")
        port = self._serial
        if port is None:
            self.stats.error("feedback_dropped")
            return
        try:
            os.write(port.fileno(), line.encode())
            self.stats.feedback_sent += 1
        except OSError:
            self.stats.error("feedback_dropped")
