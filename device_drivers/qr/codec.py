"""QR and barcode scanners on a serial line, sans-IO: one scanned code per line.

A scanner in serial (or USB-CDC "virtual COM") mode sends each code it reads as text followed by
its suffix, CR, LF or CR LF (the factory default of most scanners). That covers the Social
Wallet's dynamic QR code on a parent's phone and codes printed on a card or a sticker.

A good line is UTF-8 text (ASCII is a subset) of printable characters, at most ``max_length``
bytes long; spaces around it are dropped, spaces inside are kept. The code's text is the
credential as it is: the gateway hashes it like any card number.

Problems (:class:`QrProblem`, one per line): ``control_char`` (a control or other non-printable
character: line noise, or a scanner set to send a prefix the profile does not know),
``not_utf8``, ``overlong``, ``truncated`` (see :mod:`device_drivers.lines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from device_drivers.lines import LineDecoder, LineError

__all__ = ["MAX_LENGTH", "Decoder", "QrProblem", "ScannedCode"]

MAX_LENGTH = 512  # bytes: room for a signed dynamic QR payload, not for a scanner left spewing


class QrProblem(StrEnum):
    """Why a line was thrown away; the value is the counter name a driver uses."""

    CONTROL_CHAR = "control_char"
    NOT_UTF8 = "not_utf8"
    OVERLONG = "overlong"
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """A good line: the text of the code that was scanned."""

    text: str


class Decoder(LineDecoder[ScannedCode]):
    """Incremental decoder of scanner lines."""

    overlong = QrProblem.OVERLONG
    truncated = QrProblem.TRUNCATED

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        super().__init__(max_length)

    def parse(self, line: bytes) -> ScannedCode | LineError | None:
        """One scanner line → the code, or the reason it is not one."""
        try:
            text = line.decode("utf-8").strip(" ")
        except UnicodeDecodeError:
            return LineError(QrProblem.NOT_UTF8, line)
        if not text:
            return None
        if not text.isprintable():
            return LineError(QrProblem.CONTROL_CHAR, line)
        return ScannedCode(text)
