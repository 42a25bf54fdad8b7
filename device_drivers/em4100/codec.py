"""EM4100 / RDM6300 ASCII frames, sans-IO: bytes in, frames and errors out.

A frame is 14 bytes: STX (0x02), ten hex characters (a version byte and the four-byte card id),
two hex characters holding the XOR of those five bytes, ETX (0x03). Serial lines pick up noise,
so the decoder resynchronises on every STX and reports, rather than raises, what it threw away.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ETX", "STX", "Decoder", "Frame", "FrameError", "FrameProblem", "encode_frame"]

STX = 0x02
ETX = 0x03
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_BODY = 12  # ten data hex chars + two checksum hex chars


class FrameProblem(StrEnum):
    """Why bytes were thrown away."""

    NOISE = "noise"  # bytes outside any frame
    TRUNCATED = "truncated"  # a frame cut short by the next STX
    BAD_HEX = "bad_hex"
    BAD_CHECKSUM = "bad_checksum"
    OVERLONG = "overlong"  # no ETX where it should be


@dataclass(frozen=True, slots=True)
class Frame:
    """A good frame: the card number as ten upper-case hex characters."""

    card: str


@dataclass(frozen=True, slots=True)
class FrameError:
    """A run of bytes that was not a good frame (one error per run, whatever its length)."""

    problem: FrameProblem
    raw: bytes


def encode_frame(card: str) -> bytes:
    """The frame a reader sends for ``card`` (ten hex characters)."""
    data = bytes.fromhex(card)
    if len(data) != 5:
        raise ValueError("an EM4100 card number is ten hex characters")
    checksum = 0
    for b in data:
        checksum ^= b
    return bytes([STX]) + f"{card.upper()}{checksum:02X}".encode() + bytes([ETX])


class Decoder:
    """Incremental decoder: feed it whatever the port gave, in any chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self._noise = bytearray()

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        """Decode what ``data`` completes; keep a partial frame for the next call."""
        out: list[Frame | FrameError] = []
        for byte in data:
            if byte == STX:
                self._flush_noise(out)
                if self._in_frame:
                    out.append(FrameError(FrameProblem.TRUNCATED, bytes([STX]) + bytes(self._buf)))
                self._in_frame = True
                self._buf.clear()
            elif not self._in_frame:
                self._noise.append(byte)
            elif byte == ETX:
                out.append(self._finish())
                self._in_frame = False
                self._buf.clear()
            else:
                self._buf.append(byte)
                if len(self._buf) > _BODY:
                    out.append(FrameError(FrameProblem.OVERLONG, bytes([STX]) + bytes(self._buf)))
                    self._in_frame = False
                    self._buf.clear()
        return out

    def _flush_noise(self, out: list[Frame | FrameError]) -> None:
        if self._noise:
            out.append(FrameError(FrameProblem.NOISE, bytes(self._noise)))
            self._noise.clear()

    def flush(self) -> list[FrameError]:
        """Report noise held back while waiting to see where it ends (call when the line idles)."""
        out: list[Frame | FrameError] = []
        self._flush_noise(out)
        return [e for e in out if isinstance(e, FrameError)]

    def _finish(self) -> Frame | FrameError:
        body = bytes(self._buf)
        raw = bytes([STX]) + body + bytes([ETX])
        if len(body) != _BODY:
            return FrameError(FrameProblem.TRUNCATED, raw)
        if not all(b in _HEX for b in body):
            return FrameError(FrameProblem.BAD_HEX, raw)
        data = bytes.fromhex(body[:10].decode())
        checksum = 0
        for b in data:
            checksum ^= b
        if checksum != int(body[10:], 16):
            return FrameError(FrameProblem.BAD_CHECKSUM, raw)
        return Frame(body[:10].decode().upper())
