"""Wiegand 26 and 34 bit frames from a serial Wiegand converter, sans-IO: lines in, frames out.

A Wiegand reader sends its bits on two wires; a converter (a small board with a USB, RS-232 or
RS-485 side) prints each frame as one line of text. Two common output formats are supported, told
apart by their first character, each line ending with CR, LF or CR LF::

    W26 10001001011010110100001111    "bits": 'W', the bit count, a space or ':', the bits as sent
    26:225AD0F                        "hex": the bit count, ':', the whole frame in hex, right-aligned
                                      (parity bits included; leading zeros may be left out)

Both examples are facility 18, card 54919. Both formats carry the parity bits, so the gateway
checks them itself. Converters that check parity on the board and print only the data bits
(``XXYYZZ``) are not supported: nothing here could tell a misread from a real card.

Frames, most significant bit first::

    26 bits:  even parity of bits 2-13 | 8-bit facility  | 16-bit card | odd parity of bits 14-25
    34 bits:  even parity of bits 2-17 | 16-bit facility | 16-bit card | odd parity of bits 18-33

so the first half of the frame (13 or 17 bits, its parity bit included) has an even number of
ones and the second half an odd number. A single flipped bit always breaks one of the two.

**Credential** (what the gateway hashes and the roster knows): ``FFF:NNNNN`` for 26 bits
(facility 000-255, card 00000-65535) and ``FFFFF:NNNNN`` for 34 bits. Why: it is the number
printed on 26-bit cards and key fobs (``018,54919``), so a card can be enrolled from its label;
it is the same whichever output format the converter uses; and the two widths keep a 26-bit and a
34-bit card with the same numbers apart.

Problems (:class:`WiegandProblem`, one per line): ``bad_parity``, ``bad_bit_count`` (neither 26 nor
34 bits, or the count and the digits disagree), ``garbage`` (not a line of either format),
``overlong``, ``truncated`` (see :mod:`device_drivers.lines`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from device_drivers.lines import LineDecoder, LineError

__all__ = [
    "BIT_COUNTS",
    "MAX_LINE",
    "Decoder",
    "WiegandFrame",
    "WiegandProblem",
    "encode",
    "format_bits",
    "format_hex",
    "parity_ok",
]

BIT_COUNTS = (26, 34)
MAX_LINE = 64  # "W34 " and 34 bits is 38 characters; anything much longer is not a frame
_BITS_LINE = re.compile(rb"[Ww](\d{1,3})[ :]([01]+)")
_HEX_LINE = re.compile(rb"(\d{1,3}):([0-9A-Fa-f]+)")


class WiegandProblem(StrEnum):
    """Why a line was thrown away; the value is the counter name a driver uses."""

    BAD_PARITY = "bad_parity"
    BAD_BIT_COUNT = "bad_bit_count"
    GARBAGE = "garbage"
    OVERLONG = "overlong"
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class WiegandFrame:
    """A good frame: ``value`` is the whole frame as sent, parity bits included."""

    bit_count: int
    value: int

    @property
    def data(self) -> int:
        """The data bits, parity bits removed (24 or 32 bits)."""
        return (self.value >> 1) & ((1 << (self.bit_count - 2)) - 1)

    @property
    def facility(self) -> int:
        """The facility (site) code: 8 bits in a 26-bit frame, 16 in a 34-bit one."""
        return self.data >> 16

    @property
    def card(self) -> int:
        """The card number, the low 16 data bits."""
        return self.data & 0xFFFF

    @property
    def credential(self) -> str:
        """``FFF:NNNNN`` (26 bits) or ``FFFFF:NNNNN`` (34 bits); see the module docstring for why."""
        width = 3 if self.bit_count == 26 else 5
        return f"{self.facility:0{width}d}:{self.card:05d}"


def _ones(value: int) -> int:
    return bin(value).count("1")


def parity_ok(bit_count: int, value: int) -> bool:
    """Whether the first half of the frame has even parity and the second half odd parity."""
    half = bit_count // 2
    return _ones(value >> (bit_count - half)) % 2 == 0 and _ones(value & ((1 << half) - 1)) % 2 == 1


def encode(bit_count: int, facility: int, card: int) -> WiegandFrame:
    """The frame a reader sends for ``facility`` and ``card``, with both parity bits set."""
    if bit_count not in BIT_COUNTS:
        raise ValueError(f"Wiegand frames here are 26 or 34 bits, not {bit_count}")
    if not 0 <= facility < 1 << (bit_count - 18) or not 0 <= card <= 0xFFFF:
        raise ValueError(f"facility {facility} or card {card} does not fit a {bit_count}-bit frame")
    half = (bit_count - 2) // 2
    data = facility << 16 | card
    even = _ones(data >> half) % 2  # makes the first half's count of ones even
    odd = 1 - _ones(data & ((1 << half) - 1)) % 2  # makes the second half's count odd
    return WiegandFrame(bit_count, even << (bit_count - 1) | data << 1 | odd)


def format_bits(frame: WiegandFrame) -> str:
    """The frame as a converter prints it in the "bits" format (no line end)."""
    return f"W{frame.bit_count} {frame.value:0{frame.bit_count}b}"


def format_hex(frame: WiegandFrame) -> str:
    """The frame as a converter prints it in the "hex" format (no line end)."""
    return f"{frame.bit_count}:{frame.value:0{-(-frame.bit_count // 4)}X}"


class Decoder(LineDecoder[WiegandFrame]):
    """Incremental decoder of converter lines in either format, mixed freely."""

    overlong = WiegandProblem.OVERLONG
    truncated = WiegandProblem.TRUNCATED

    def __init__(self, max_length: int = MAX_LINE) -> None:
        super().__init__(max_length)

    def parse(self, line: bytes) -> WiegandFrame | LineError | None:
        """One converter line → a frame, or the reason it is not one."""
        text = line.strip()
        if not text:
            return None
        if bits := _BITS_LINE.fullmatch(text):
            bit_count, digits = int(bits[1]), bits[2]
            fits = len(digits) == bit_count
            value = int(digits, 2)
        elif hexa := _HEX_LINE.fullmatch(text):
            bit_count, digits = int(hexa[1]), hexa[2]
            value = int(digits, 16)
            fits = len(digits) <= -(-bit_count // 4) and value >> bit_count == 0
        else:
            return LineError(WiegandProblem.GARBAGE, line)
        if bit_count not in BIT_COUNTS or not fits:
            return LineError(WiegandProblem.BAD_BIT_COUNT, line)
        if not parity_ok(bit_count, value):
            return LineError(WiegandProblem.BAD_PARITY, line)
        return WiegandFrame(bit_count, value)
