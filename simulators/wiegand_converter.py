"""A Wiegand reader behind its serial converter, on a pseudo-terminal: prints one line per card.

Both converter formats of :mod:`device_drivers.wiegand.codec` (``W26 1000…`` bits, ``26:225AD0F``
hex), 26 and 34 bits, and the ways a line goes wrong, each named as the driver counts it.
"""

from __future__ import annotations

import os
import random
from typing import Literal

from device_drivers.wiegand.codec import MAX_LINE, encode, format_bits, format_hex
from simulators.serial_device import SerialDeviceSim

__all__ = ["NOISE_KINDS", "WiegandConverterSim", "random_badge"]

NOISE_KINDS = ("bad_parity", "bad_bit_count", "garbage", "overlong")
Format = Literal["bits", "hex"]


def random_badge(rng: random.Random, bits: int = 26) -> tuple[int, int]:
    """A random (facility, card) pair that fits a ``bits``-bit frame."""
    return rng.getrandbits(8 if bits == 26 else 16), rng.getrandbits(16)


class WiegandConverterSim(SerialDeviceSim):
    """One simulated converter; ``fmt`` is the output format it is set to. Thread-safe."""

    def __init__(self, link: str | os.PathLike[str], *, fmt: Format = "bits", seed: int = 0) -> None:
        self.fmt = fmt
        self.rng = random.Random(seed)
        super().__init__(link)

    def line(self, facility: int, card: int, bits: int = 26) -> bytes:
        """The line the converter prints for a card, with its CR LF."""
        frame = encode(bits, facility, card)
        text = format_bits(frame) if self.fmt == "bits" else format_hex(frame)
        return text.encode() + b"\r\n"

    def present(self, facility: int, card: int, bits: int = 26, repeats: int = 1, interval_s: float = 0.0) -> float:
        """Present a card; returns the ``perf_counter()`` when its line was written.

        The credential the gateway reads is remembered in ``sent_at`` (``FFF:NNNNN``).
        """
        frame = encode(bits, facility, card)
        return self.send(frame.credential, self.line(facility, card, bits), repeats, interval_s)

    def noise(self, kind: str | None = None) -> str:
        """Write one bad line of ``kind`` (one of :data:`NOISE_KINDS`; random if None).

        Returns the counter under which the driver counts it, which is ``kind`` itself.
        """
        kind = kind or self.rng.choice(NOISE_KINDS)
        good = self.line(*random_badge(self.rng)).rstrip(b"\r\n")
        if kind == "bad_parity":  # flip one bit of the frame: exactly one half's parity breaks
            frame = encode(26, *random_badge(self.rng))
            flipped = type(frame)(26, frame.value ^ 1 << self.rng.randrange(26))
            text = format_bits(flipped) if self.fmt == "bits" else format_hex(flipped)
            self.write(text.encode() + b"\r\n")
        elif kind == "bad_bit_count":  # a 37-bit frame: real, but not one of ours
            self.write(b"W37 " + b"0" * 37 + b"\r\n" if self.fmt == "bits" else b"37:0000000001\r\n")
        elif kind == "garbage":
            self.write(b"#" + good[1:] + b"\r\n")
        elif kind == "overlong":
            self.write(b"W26 " + b"01" * MAX_LINE + b"\r\n")
        else:
            raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")
        return kind
