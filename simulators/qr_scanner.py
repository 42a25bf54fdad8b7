"""A QR / barcode scanner on a pseudo-terminal: sends one line per scanned code.

Random codes (:func:`random_code`) are any scanned text the gateway hashes as a credential; a
genuine Social Wallet code, which the gateway verifies, comes from
:func:`simulators.social_wallet.wallet_code`. The ways a line goes wrong are named as the driver
counts them.
"""

from __future__ import annotations

import os
import random
import secrets

from device_drivers.qr.codec import MAX_LENGTH
from simulators.serial_device import SerialDeviceSim

__all__ = ["NOISE_KINDS", "QrScannerSim", "random_code"]

NOISE_KINDS = ("control_char", "not_utf8", "overlong")


def random_code(rng: random.Random) -> str:
    """A code like the Social Wallet's dynamic QR: a scheme, a child token and a one-time part."""
    return f"SW1:{rng.getrandbits(64):016x}:{rng.getrandbits(32):08x}"


class QrScannerSim(SerialDeviceSim):
    """One simulated scanner, its suffix CR LF (the usual factory setting). Thread-safe."""

    def __init__(self, link: str | os.PathLike[str], *, seed: int = 0, suffix: bytes = b"\r\n") -> None:
        self.rng = random.Random(seed)
        self.suffix = suffix
        super().__init__(link)

    def scan(self, code: str, repeats: int = 1, interval_s: float = 0.0) -> float:
        """Scan ``code`` (``repeats`` times, as in continuous mode); returns when it was first written."""
        return self.send(code, code.encode() + self.suffix, repeats, interval_s)

    def noise(self, kind: str | None = None) -> str:
        """Write one bad line of ``kind`` (one of :data:`NOISE_KINDS`; random if None).

        Returns the counter under which the driver counts it, which is ``kind`` itself.
        """
        kind = kind or self.rng.choice(NOISE_KINDS)
        if kind == "control_char":
            self.write(b"SW1:\x1b[0m" + secrets.token_hex(4).encode() + self.suffix)
        elif kind == "not_utf8":
            self.write(b"SW1:\xff\xfe" + self.suffix)
        elif kind == "overlong":
            self.write(b"A" * (MAX_LENGTH + 1) + self.suffix)
        else:
            raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")
        return kind
