"""QR / barcode scanners on a serial port: scanned lines in, decision lines out.

All the I/O (non-blocking pyserial watched by the event loop, reconnect on ``EIO``, repeat
suppression, the ``GRANT``/``DENY`` lines for a controller on the same line) is
:class:`~device_drivers.serial_line.SerialReaderDriver`'s. Repeat suppression matters here too:
a scanner in continuous mode reads a phone held in front of it several times a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.qr.codec import MAX_LENGTH, Decoder, ScannedCode
from device_drivers.serial_line import SerialReaderConfig, SerialReaderDriver
from shared.contract import CredentialKind

__all__ = ["QrConfig", "QrDriver"]


@dataclass(frozen=True, slots=True)
class QrConfig(SerialReaderConfig):
    """One scanner on one serial port; ``max_length`` bounds a code, in bytes."""

    max_length: int = MAX_LENGTH


class QrDriver(SerialReaderDriver[ScannedCode]):
    """Turns scanned lines into card reads of kind ``qr`` (the code's text is the credential).

    Counters (``stats.errors``): one per :class:`~device_drivers.qr.codec.QrProblem`
    (``control_char``, ``not_utf8``, ``overlong``, ``truncated``), plus ``repeat_suppressed`` and
    ``feedback_dropped``.
    """

    kind = CredentialKind.QR

    def __init__(self, config: QrConfig) -> None:
        super().__init__(config)
        self.max_length = config.max_length

    def new_decoder(self) -> Decoder:
        """A fresh line decoder bounded by the configured ``max_length``."""
        return Decoder(self.max_length)

    def credential(self, item: ScannedCode) -> str:
        """The code's text."""
        return item.text
