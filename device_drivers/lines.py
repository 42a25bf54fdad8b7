"""Line-framed serial protocols, sans-IO: bytes in, one item or one error per line out.

QR scanners, Wiegand converters and turnstile relay boards all end each message with CR, LF or
CR LF. :class:`LineDecoder` cuts the stream into lines and hands each one to its subclass's
:meth:`LineDecoder.parse`; what cannot be used comes out as a :class:`LineError` naming why:

* a line longer than ``max_length`` is reported once (the subclass's ``overlong`` problem) and the
  rest of it, up to the next line end, is skipped: a line spewing garbage cannot grow memory, and
  the decoder is in step again at the next line;
* bytes left without a line end when the line goes quiet are reported by :meth:`LineDecoder.flush`
  (the ``truncated`` problem), so that they do not spoil the next, good line.

Empty lines are skipped silently: CR LF is two line ends, and some devices send blank lines. The
output of :meth:`LineDecoder.feed` does not depend on how the stream is cut into chunks (only
:meth:`LineDecoder.flush` reports early), which is what the codecs' property tests check.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

__all__ = ["LineDecoder", "LineError"]

T = TypeVar("T")
_LINE_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class LineError:
    """A line (or run of bytes) that was not a good message; ``problem`` names why."""

    problem: StrEnum
    raw: bytes


class LineDecoder(ABC, Generic[T]):
    """Incremental line decoder: feed it whatever the port gave, in any chunks.

    Subclasses set the ``overlong`` and ``truncated`` problems of their own enum and implement
    :meth:`parse`.
    """

    overlong: ClassVar[StrEnum]
    truncated: ClassVar[StrEnum]

    def __init__(self, max_length: int) -> None:
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.max_length = max_length
        self._buf = bytearray()
        self._skipping = False  # an overlong line was reported: drop the rest of it

    @abstractmethod
    def parse(self, line: bytes) -> T | LineError | None:
        """One complete line, without its line end, never empty; ``None`` to skip it silently."""

    def feed(self, data: bytes) -> list[T | LineError]:
        """Decode the lines ``data`` completes; a partial line waits for the next call."""
        out: list[T | LineError] = []
        start = 0
        for end in _LINE_END.finditer(data):
            self._take(data[start : end.start()], out)
            self._end_line(out)
            start = end.end()
        self._take(data[start:], out)
        return out

    def flush(self) -> list[T | LineError]:
        """Report a pending partial line now (call when the line goes quiet) and start afresh."""
        rest, skipping = bytes(self._buf), self._skipping
        self._buf.clear()
        self._skipping = False
        return [LineError(self.truncated, rest)] if rest and not skipping else []

    def _take(self, chunk: bytes, out: list[T | LineError]) -> None:
        if self._skipping or not chunk:
            return
        self._buf += chunk
        if len(self._buf) > self.max_length:
            out.append(LineError(self.overlong, bytes(self._buf[: self.max_length])))
            self._buf.clear()
            self._skipping = True

    def _end_line(self, out: list[T | LineError]) -> None:
        if self._skipping:
            self._skipping = False
            return
        if self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            item = self.parse(line)
            if item is not None:
                out.append(item)
