"""A turnstile reader on a pseudo-terminal: presents cards, adds noise, hears the feedback.

The gateway opens a *stable* path (a symlink to the pty's slave side), as it would open
``/dev/serial/by-id/...``. ``unplug()`` closes the pty as a pulled USB adapter would, and
``replug()`` makes a new one behind the same path.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from device_drivers.em4100.codec import encode_frame

__all__ = ["FeedbackLine", "SerialReaderSim", "random_card"]


def random_card(rng: random.Random) -> str:
    """A random EM4100 card number (ten hex characters)."""
    return f"{rng.getrandbits(40):010X}"


@dataclass(frozen=True, slots=True)
class FeedbackLine:
    """A line the gateway wrote back, and when it arrived (``time.perf_counter``)."""

    text: str
    at: float


class SerialReaderSim:
    """One simulated reader. Thread-safe; works from tests, the demo and the benchmark."""

    def __init__(self, link: Path, *, seed: int = 0) -> None:
        self.link = Path(link)
        self.rng = random.Random(seed)
        self._master: int | None = None
        self._slave: int | None = None
        self._lines: deque[FeedbackLine] = deque()
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self.sent_at: dict[str, float] = {}
        self.replug()

    def replug(self) -> None:
        """Create a fresh pty behind the stable path."""
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)
        self._master, self._slave = master, slave
        self._reader = threading.Thread(target=self._read_feedback, args=(master,), daemon=True)
        self._reader.start()

    def unplug(self) -> None:
        """Close the pty: the gateway's reads fail as if the adapter were pulled."""
        fds = (self._master, self._slave)
        self._master = self._slave = None
        if self._reader is not None:
            self._reader.join(1.0)
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    close = unplug

    def present(self, card: str, repeats: int = 1) -> None:
        """Present ``card``; a real reader repeats the frame while the card is held."""
        self.sent_at[card.upper()] = time.perf_counter()
        self.write(encode_frame(card) * repeats)

    def write(self, data: bytes) -> None:
        """Write raw bytes to the line."""
        if self._master is None:
            raise OSError("reader is unplugged")
        os.write(self._master, data)

    def noise(self, kind: str | None = None) -> str:
        """Write one kind of garbage: random bytes, a truncated frame or a bad checksum."""
        kind = kind or self.rng.choice(["random", "truncated", "bad_checksum"])
        frame = encode_frame(random_card(self.rng))
        if kind == "random":
            self.write(bytes(self.rng.choice([b for b in range(256) if b != 0x02]) for _ in range(7)))
        elif kind == "truncated":
            self.write(frame[: self.rng.randint(2, 12)])
        else:
            self.write(frame[:11] + (b"00" if frame[11:13] != b"00" else b"11") + frame[13:])
        return kind

    def _read_feedback(self, master: int) -> None:
        # select with a timeout, not a blocking read: an fd closed under a blocked read stays open
        # until the read returns, and the gateway would never see the line hang up.
        buf = b""
        while self._master == master:
            try:
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

    def next_feedback(self, timeout_s: float = 5.0) -> FeedbackLine | None:
        """The next feedback line, or None if none came in time."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._lines:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._lines.popleft()
