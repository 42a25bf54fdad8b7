"""EM4100 / RDM6300 ASCII frames, sans-IO: bytes in, frames and errors out.

A frame is 14 bytes::

    STX (0x02) | 10 hex chars: version byte + 4-byte card id | 2 hex chars: XOR of those 5 bytes | ETX (0x03)

Serial lines pick up noise, so the decoder resynchronises on every STX and *reports*, rather than
raises, what it threw away. Counting is per run, not per byte: one :class:`FrameError` stands for
one contiguous run of discarded bytes (a burst of line noise, one cut-short frame, one frame with a
bad checksum). A run of noise is reported when the next STX arrives, when it reaches
:data:`MAX_NOISE_RUN` bytes (so a line spewing garbage cannot grow memory), or on :meth:`flush`.

The output of :meth:`Decoder.feed` does not depend on how the stream is cut into chunks (only
:meth:`Decoder.flush` reports early), which is what the property tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

__all__ = [
    "ETX",
    "FRAME_LEN",
    "MAX_NOISE_RUN",
    "STX",
    "Decoder",
    "Frame",
    "FrameError",
    "FrameProblem",
    "checksum",
    "encode_frame",
]

STX = 0x02
ETX = 0x03
FRAME_LEN = 14
MAX_NOISE_RUN = 64
_BODY = 12  # ten data hex chars + two checksum hex chars
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class FrameProblem(StrEnum):
    """Why bytes were thrown away; the value is the counter name a driver uses."""

    NOISE = "noise"  # bytes outside any frame
    TRUNCATED = "truncated"  # a frame cut short by the next STX or by an early ETX
    BAD_HEX = "bad_hex"  # twelve characters, not all of them hex
    BAD_CHECKSUM = "bad_checksum"
    OVERLONG = "overlong"  # more than twelve characters after STX without an ETX


@dataclass(frozen=True, slots=True)
class Frame:
    """A good frame. ``card`` is the ten upper-case hex characters (version byte + card id)."""

    card: str

    @property
    def version(self) -> int:
        """The version (customer) byte, the first of the five."""
        return int(self.card[:2], 16)

    @property
    def card_id(self) -> int:
        """The 32-bit card id, the number often printed on the card."""
        return int(self.card[2:], 16)


@dataclass(frozen=True, slots=True)
class FrameError:
    """A run of bytes that was not a good frame (one error per run, whatever its length)."""

    problem: FrameProblem
    raw: bytes


def checksum(data: bytes) -> int:
    """XOR of the bytes: the EM4100 frame checksum of the five data bytes."""
    value = 0
    for b in data:
        value ^= b
    return value


def encode_frame(card_hex: str) -> bytes:
    """The 14-byte frame a reader sends for ``card_hex`` (ten hex characters, any case)."""
    if len(card_hex) != 10:
        raise ValueError(f"an EM4100 card number is ten hex characters, not {card_hex!r}")
    data = bytes.fromhex(card_hex)  # raises ValueError on non-hex
    return bytes([STX]) + f"{card_hex.upper()}{checksum(data):02X}".encode() + bytes([ETX])


class _State(Enum):
    IDLE = 0  # between frames: anything but STX is noise
    FRAME = 1  # after STX, collecting the body
    SKIP = 2  # an overlong frame was reported: swallow the rest of it up to its ETX or the next STX


class Decoder:
    """Incremental decoder: feed it whatever the port gave, in any chunks."""

    def __init__(self) -> None:
        self._state = _State.IDLE
        self._buf = bytearray()  # the frame body, or the noise run, depending on the state

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        """Decode what ``data`` completes; a partial frame or noise run waits for the next call."""
        out: list[Frame | FrameError] = []
        for byte in data:
            if byte == STX:
                if self._state is _State.FRAME:
                    out.append(FrameError(FrameProblem.TRUNCATED, bytes([STX]) + bytes(self._buf)))
                elif self._state is _State.IDLE and self._buf:
                    out.append(FrameError(FrameProblem.NOISE, bytes(self._buf)))
                self._state = _State.FRAME
                self._buf.clear()
            elif self._state is _State.IDLE:
                self._buf.append(byte)
                if len(self._buf) >= MAX_NOISE_RUN:
                    out.append(FrameError(FrameProblem.NOISE, bytes(self._buf)))
                    self._buf.clear()
            elif self._state is _State.SKIP:
                if byte == ETX:
                    self._state = _State.IDLE
            elif byte == ETX:
                out.append(self._finish())
                self._state = _State.IDLE
                self._buf.clear()
            else:
                self._buf.append(byte)
                if len(self._buf) > _BODY:
                    out.append(FrameError(FrameProblem.OVERLONG, bytes([STX]) + bytes(self._buf)))
                    self._state = _State.SKIP
                    self._buf.clear()
        return out

    def flush(self) -> list[FrameError]:
        """Report a pending noise run now (call when the line goes quiet); a partial frame stays."""
        if self._state is _State.IDLE and self._buf:
            error = FrameError(FrameProblem.NOISE, bytes(self._buf))
            self._buf.clear()
            return [error]
        return []

    def _finish(self) -> Frame | FrameError:
        body = bytes(self._buf)
        raw = bytes([STX]) + body + bytes([ETX])
        if len(body) != _BODY:
            return FrameError(FrameProblem.TRUNCATED, raw)
        if not all(b in _HEX for b in body):
            return FrameError(FrameProblem.BAD_HEX, raw)
        if checksum(bytes.fromhex(body[:10].decode())) != int(body[10:], 16):
            return FrameError(FrameProblem.BAD_CHECKSUM, raw)
        return Frame(body[:10].decode().upper())
