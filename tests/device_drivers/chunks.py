"""Feed a decoder a stream cut into chunks, as a serial port hands it over."""

from __future__ import annotations

from typing import Protocol, TypeVar

from hypothesis import strategies as st

__all__ = ["cuts", "feed_cut"]

T = TypeVar("T", covariant=True)

cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)  # offsets, modulo the stream's length


class _Feedable(Protocol[T]):
    def feed(self, data: bytes) -> list[T]: ...


def feed_cut(decoder: _Feedable[T], stream: bytes, cut_at: list[int] | None = None) -> list[T]:
    """Everything ``decoder`` makes of ``stream`` cut at the given offsets (modulo its length)."""
    points = [*sorted({c % (len(stream) + 1) for c in cut_at or []}), len(stream)]
    out: list[T] = []
    start = 0
    for point in points:
        out += decoder.feed(stream[start:point])
        start = point
    return out
