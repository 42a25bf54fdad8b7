"""Wiegand converter lines: both formats, parity checked, any chunking, every bad line named."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.lines import LineError
from device_drivers.wiegand.codec import (
    MAX_LINE,
    Decoder,
    WiegandFrame,
    WiegandProblem,
    encode,
    format_bits,
    format_hex,
)
from tests.device_drivers.chunks import cuts, feed_cut

badges = st.one_of(
    st.tuples(st.just(26), st.integers(0, 255), st.integers(0, 0xFFFF)),
    st.tuples(st.just(34), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
)
formats = st.sampled_from([format_bits, format_hex])
line_ends = st.sampled_from([b"\r", b"\n", b"\r\n"])
# never a frame: starts with neither 'W' nor a digit
garbage = st.binary(max_size=40).map(lambda b: b"x" + b.replace(b"\r", b"").replace(b"\n", b""))
Badge = tuple[int, int, int]
Format = Callable[[WiegandFrame], str]


def by_hand(bit_count: int, facility: int, card: int) -> str:
    """The frame's bits built from the definition with strings: an oracle independent of the codec."""
    data = f"{facility:0{bit_count - 18}b}{card:016b}"
    half = len(data) // 2
    even = data[:half].count("1") % 2
    odd = 1 - data[half:].count("1") % 2
    return f"{even}{data}{odd}"


def frames(out: list[WiegandFrame | LineError]) -> list[str]:
    return [o.credential for o in out if isinstance(o, WiegandFrame)]


def problems(out: list[WiegandFrame | LineError]) -> list[WiegandProblem]:
    return [WiegandProblem(o.problem) for o in out if isinstance(o, LineError)]


def test_the_documented_example_in_both_formats() -> None:
    (a, b) = Decoder().feed(b"W26 10001001011010110100001111\r\n26:225AD0F\r\n")
    assert a == b and isinstance(a, WiegandFrame)
    assert (a.facility, a.card, a.credential, a.data) == (18, 54919, "018:54919", 0x12D687)


@given(badges)
def test_both_formats_carry_facility_and_card_with_parity_as_defined(badge: Badge) -> None:
    bit_count, facility, card = badge
    bits = by_hand(*badge)
    value = int(bits, 2)
    lines = [f"W{bit_count} {bits}", f"w{bit_count}:{bits}", f"{bit_count}:{value:X}", f"{bit_count}:{value:x}"]
    out = Decoder().feed("\r\n".join(lines).encode() + b"\n")
    assert [(f.bit_count, f.facility, f.card) for f in out if isinstance(f, WiegandFrame)] == [badge] * 4
    expected = f"{facility:03d}:{card:05d}" if bit_count == 26 else f"{facility:05d}:{card:05d}"
    assert frames(out) == [expected] * 4
    assert format_bits(encode(*badge)) == lines[0]
    assert format_hex(encode(*badge)) == f"{bit_count}:{value:0{-(-bit_count // 4)}X}"  # zero-padded


@given(st.lists(st.tuples(st.lists(garbage, max_size=2), badges, formats, line_ends), max_size=10), cuts)
def test_frames_between_garbage_lines_decode_alike_in_any_chunks(
    items: list[tuple[list[bytes], Badge, Format, bytes]], cut_at: list[int]
) -> None:
    stream = b"".join(
        b"".join(g + end for g in junk) + fmt(encode(*badge)).encode() + end for junk, badge, fmt, end in items
    )
    out = feed_cut(Decoder(), stream, cut_at)
    assert frames(out) == [encode(*badge).credential for _, badge, _, _ in items]
    assert problems(out) == [WiegandProblem.GARBAGE for junk, *_ in items for _ in junk]
    assert out == feed_cut(Decoder(), stream)


@given(st.lists(badges, min_size=1, max_size=8), formats, st.data())
def test_any_single_flipped_bit_is_refused_as_bad_parity(sent: list[Badge], fmt: Format, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(sent) - 1))
    lines = [encode(*b) for b in sent]
    bit = data.draw(st.integers(0, lines[i].bit_count - 1))
    lines[i] = WiegandFrame(lines[i].bit_count, lines[i].value ^ (1 << bit))
    out = feed_cut(Decoder(), b"".join(fmt(f).encode() + b"\r\n" for f in lines), data.draw(cuts))
    assert frames(out) == [encode(*b).credential for j, b in enumerate(sent) if j != i]
    assert problems(out) == [WiegandProblem.BAD_PARITY]


@pytest.mark.parametrize(
    "line",
    [
        b"W25 " + b"1" * 25,  # a count we do not read
        b"W37 " + b"0" * 37,
        b"W26 " + b"1" * 25,  # the count and the bits disagree
        b"W34 " + b"1" * 35,
        b"26:4000000",  # 27 bits of value in a 26-bit frame
        b"26:0225AD0F",  # more hex digits than 26 bits need
        b"44:1",
    ],
)
def test_wrong_bit_counts_are_named(line: bytes) -> None:
    assert problems(Decoder().feed(line + b"\r\n")) == [WiegandProblem.BAD_BIT_COUNT]


def test_overlong_garbage_and_cut_lines_are_named_and_the_next_line_reads() -> None:
    decoder = Decoder()
    good = format_hex(encode(26, 1, 2)).encode()
    stream = b"W26 " + b"0" * MAX_LINE + b"1\r\n" + b"26:XYZ\r\n" + b"\r\n  \r\n" + good + b"\r\n" + b"W26 101"
    out = decoder.feed(stream)
    assert problems(out) == [WiegandProblem.OVERLONG, WiegandProblem.GARBAGE]
    assert frames(out) == ["001:00002"]
    assert problems(decoder.flush()) == [WiegandProblem.TRUNCATED]  # the line went quiet mid-frame
    assert frames(decoder.feed(good + b"\n")) == ["001:00002"]  # in step again


@given(st.binary(max_size=300), cuts)
def test_any_bytes_decode_without_raising_and_alike_in_any_chunks(stream: bytes, cut_at: list[int]) -> None:
    out = feed_cut(Decoder(), stream, cut_at)
    assert out == feed_cut(Decoder(), stream)
    for item in out:
        if isinstance(item, WiegandFrame):  # whatever comes out as a frame passed both parity checks
            assert by_hand(item.bit_count, item.facility, item.card) == f"{item.value:0{item.bit_count}b}"


def test_encode_refuses_what_does_not_fit() -> None:
    for args in [(26, 256, 0), (26, 0, 65536), (34, 65536, 0), (30, 0, 0), (26, -1, 0)]:
        with pytest.raises(ValueError):
            encode(*args)
