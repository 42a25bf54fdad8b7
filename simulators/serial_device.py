"""A device at the far end of a serial line, on a pseudo-terminal behind a stable path.

The common part of every serial simulator (an EM4100 reader, a Wiegand converter, a QR scanner, a
turnstile's relay board): the pty (:class:`~simulators.pty_pair.PtyPair`, with unplug and
replug), raw writes, and a background thread that reads the lines the gateway writes back, each
stamped with the ``time.perf_counter()`` of its arrival. A subclass adds what its device sends
and may answer each line as it arrives (:meth:`SerialDeviceSim.on_line`).

Latency: :meth:`SerialDeviceSim.send` returns the ``perf_counter()`` at which the bytes were
written, so ``line.at - sent`` is the tap → decision latency as the person at the turnstile sees it.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from simulators.pty_pair import PtyPair

__all__ = ["FeedbackLine", "SerialDeviceSim"]

_LINE_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class FeedbackLine:
    """A line the gateway wrote (without its line end), and when it arrived (``time.perf_counter``)."""

    text: str
    at: float


class SerialDeviceSim:
    """One simulated serial device. Thread-safe; used by tests, the demo, the benchmark and ``mektep sim``.

    :meth:`next_feedback` waits for the next line the gateway wrote (blocking, with a timeout)
    and :meth:`next_feedback_async` does the same from a coroutine.
    """

    def __init__(self, link: str | os.PathLike[str]) -> None:
        self.sent_at: dict[str, float] = {}  # what was sent (a card, a code) -> perf_counter of its last sending
        self._lines: deque[FeedbackLine] = deque()
        self._cond = threading.Condition()
        self._stop: threading.Event | None = None
        self._reader: threading.Thread | None = None
        self._pty = PtyPair(link)
        self._start_reader()

    @property
    def link(self) -> Path:
        """The stable path the driver opens."""
        return self._pty.link

    @property
    def slave_path(self) -> str | None:
        """The current ``/dev/pts/N`` behind :attr:`link` (None while unplugged)."""
        return self._pty.slave_path if self._pty.plugged else None

    # -- the line ----------------------------------------------------------------------------

    def replug(self) -> None:
        """Create a fresh pty behind the stable path."""
        self.unplug()
        self._pty.plug()
        self._start_reader()

    def unplug(self) -> None:
        """Close the pty: the gateway's reads fail as if the adapter were pulled."""
        self._stop_reader()
        self._pty.unplug()

    def close(self) -> None:
        """Unplug for good and remove the symlink."""
        self._stop_reader()
        self._pty.close()

    def write(self, data: bytes) -> None:
        """Write raw bytes to the line; ``OSError`` while unplugged."""
        self._pty.write(data)

    def send(self, key: str, data: bytes, repeats: int = 1, interval_s: float = 0.0) -> float:
        """Write ``data`` ``repeats`` times, ``interval_s`` apart; returns the ``perf_counter()`` of the first.

        ``key`` (the card or code the bytes stand for) is remembered in :attr:`sent_at`.
        """
        sent = time.perf_counter()
        self.sent_at[key] = sent
        if interval_s <= 0:
            self.write(data * repeats)
            return sent
        for i in range(repeats):
            if i:
                time.sleep(interval_s)
            self.write(data)
        return sent

    # -- what the gateway writes ----------------------------------------------------------------

    def on_line(self, line: FeedbackLine) -> None:
        """Called on the reader thread for every line, before it is queued; answer it here if need be."""

    def next_feedback(self, timeout_s: float = 5.0) -> FeedbackLine | None:
        """The next line the gateway wrote, or None if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._lines:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._lines.popleft()

    async def next_feedback_async(self, timeout_s: float = 5.0) -> FeedbackLine | None:
        """:meth:`next_feedback` without blocking the event loop."""
        return await asyncio.to_thread(self.next_feedback, timeout_s)

    def drain(self) -> list[FeedbackLine]:
        """Every line received and not yet taken."""
        with self._cond:
            lines = list(self._lines)
            self._lines.clear()
            return lines

    def _start_reader(self) -> None:
        master = self._pty.master
        if master is None:
            return
        self._stop = threading.Event()
        self._reader = threading.Thread(
            target=self._read_lines, args=(master, self._stop), daemon=True, name=f"sim:{self.link.name}"
        )
        self._reader.start()

    def _stop_reader(self) -> None:
        # Stop the thread *before* the pty is closed: a new pty may reuse the descriptor number.
        if self._stop is not None:
            self._stop.set()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2.0)
        self._stop = self._reader = None

    def _read_lines(self, master: int, stop: threading.Event) -> None:
        buf = b""
        while not stop.is_set():
            try:
                # select with a timeout, not a blocking read, so that stop is noticed promptly
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            now = time.perf_counter()
            *complete, buf = _LINE_END.split(buf + data)
            for raw in complete:
                if not raw.strip():
                    continue  # CR LF is two line ends
                line = FeedbackLine(raw.decode("latin-1").strip(), now)
                self.on_line(line)
                with self._cond:
                    self._lines.append(line)
                    self._cond.notify_all()
