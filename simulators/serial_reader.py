"""A turnstile reader on a pseudo-terminal: presents EM4100 cards, adds noise, hears the feedback.

The gateway opens a *stable* path (a symlink to the pty's slave side). ``unplug()`` closes the pty
as a pulled USB adapter would, and ``replug()`` makes a new one behind the same path. The line,
the feedback lines and their timestamps are :class:`~simulators.serial_device.SerialDeviceSim`'s.
"""

from __future__ import annotations

import os
import random

from device_drivers.em4100.codec import STX, encode_frame
from simulators.serial_device import FeedbackLine, SerialDeviceSim

__all__ = ["NOISE_KINDS", "FeedbackLine", "SerialReaderSim", "random_card"]

NOISE_KINDS = ("random", "truncated", "bad_checksum", "bad_hex", "overlong")


def random_card(rng: random.Random) -> str:
    """A random EM4100 card number (ten upper-case hex characters)."""
    return f"{rng.getrandbits(40):010X}"


class SerialReaderSim(SerialDeviceSim):
    """One simulated EM4100 reader with its controller. Thread-safe."""

    def __init__(self, link: str | os.PathLike[str], *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        super().__init__(link)

    def present(self, card: str, repeats: int = 1, interval_s: float = 0.0) -> float:
        """Present ``card``; returns the ``perf_counter()`` when its first frame was written.

        A real reader repeats the frame while the card is held (``repeats``, ``interval_s``
        apart, the RDM6300 sends about ten a second).
        """
        return self.send(card.upper(), encode_frame(card), repeats, interval_s)

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
