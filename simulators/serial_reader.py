"""A turnstile reader on a pseudo-terminal: presents cards, adds noise, hears the feedback.

The gateway opens a *stable* path (a symlink to the pty's slave side). ``unplug()`` closes the pty
as a pulled USB adapter would, and ``replug()`` makes a new one behind the same path.

Latency: :meth:`SerialReaderSim.present` returns the ``time.perf_counter()`` at which the frame was
written and every :class:`FeedbackLine` carries the ``perf_counter()`` at which it was read, so
``line.at - sent`` is the tap → decision latency as the person at the turnstile sees it.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from device_drivers.em4100.codec import STX, encode_frame
from simulators.pty_pair import PtyPair

__all__ = ["NOISE_KINDS", "FeedbackLine", "SerialReaderSim", "random_card"]

NOISE_KINDS = ("random", "truncated", "bad_checksum", "bad_hex", "overlong")


def random_card(rng: random.Random) -> str:
    """A random EM4100 card number (ten upper-case hex characters)."""
    return f"{rng.getrandbits(40):010X}"


@dataclass(frozen=True, slots=True)
class FeedbackLine:
    """A line the gateway wrote back (without its CR LF), and when it arrived (``time.perf_counter``)."""

    text: str
    at: float


class SerialReaderSim:
    """One simulated reader with its controller. Thread-safe; used by tests, the demo and the benchmark.

    A background thread reads the feedback lines the gateway writes; :meth:`next_feedback` waits
    for the next one (blocking, with a timeout) and :meth:`next_feedback_async` does the same
    from a coroutine.
    """

    def __init__(self, link: str | os.PathLike[str], *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.sent_at: dict[str, float] = {}  # card -> perf_counter of its last presentation
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

    # -- what the reader sends -----------------------------------------------------------------

    def present(self, card: str, repeats: int = 1, interval_s: float = 0.0) -> float:
        """Present ``card``; returns the ``perf_counter()`` when its first frame was written.

        A real reader repeats the frame while the card is held (``repeats``, ``interval_s``
        apart, the RDM6300 sends about ten a second).
        """
        frame = encode_frame(card)
        sent = time.perf_counter()
        self.sent_at[card.upper()] = sent
        if interval_s <= 0:
            self.write(frame * repeats)
            return sent
        for i in range(repeats):
            if i:
                time.sleep(interval_s)
            self.write(frame)
        return sent

    def write(self, data: bytes) -> None:
        """Write raw bytes to the line; ``OSError`` while unplugged."""
        self._pty.write(data)

    def noise(self, kind: str | None = None) -> str:
        """Write one run of garbage of ``kind`` (one of :data:`NOISE_KINDS`; random if None).

        Each run is counted exactly once by the driver under the name the function returns
        (``random`` counts as ``noise``) provided a good frame follows it before the next run.
        """
        kind = kind or self.rng.choice(NOISE_KINDS)
        frame = encode_frame(random_card(self.rng))
        if kind == "random":
            size = self.rng.randint(1, 16)
            self.write(bytes(b for b in self.rng.randbytes(size * 2) if b != STX)[:size] or b"\xff")
        elif kind == "truncated":
            self.write(frame[: self.rng.randint(2, 12)])  # cut short by the next frame's STX
        elif kind == "bad_checksum":
            bad = b"00" if frame[11:13] != b"00" else b"11"
            self.write(frame[:11] + bad + frame[13:])
        elif kind == "bad_hex":
            self.write(frame[:3] + b"Z" + frame[4:])
        elif kind == "overlong":
            self.write(frame[:13] + b"00" + frame[13:])
        else:
            raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")
        return kind

    # -- what the gateway answers ----------------------------------------------------------------

    def next_feedback(self, timeout_s: float = 5.0) -> FeedbackLine | None:
        """The next feedback line, or None if none came within ``timeout_s``."""
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
        """Every feedback line received and not yet taken."""
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
            target=self._read_feedback, args=(master, self._stop), daemon=True, name=f"sim:{self.link.name}"
        )
        self._reader.start()

    def _stop_reader(self) -> None:
        # Stop the thread *before* the pty is closed: a new pty may reuse the descriptor number.
        if self._stop is not None:
            self._stop.set()
        if self._reader is not None:
            self._reader.join(2.0)
        self._stop = self._reader = None

    def _read_feedback(self, master: int, stop: threading.Event) -> None:
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
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self._cond:
                    self._lines.append(FeedbackLine(line.decode(errors="replace").strip(), now))
                    self._cond.notify_all()
