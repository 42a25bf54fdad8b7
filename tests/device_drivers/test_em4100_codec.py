"""EM4100 codec: any byte stream, any chunking, every good frame out and every bad run named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.em4100.codec import (
    MAX_NOISE_RUN,
    Decoder,
    Frame,
    FrameError,
    FrameProblem,
    encode_frame,
)

cards = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())
noise = st.binary(max_size=30).map(lambda b: b.replace(b"\x02", b""))  # anything but STX
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)
hex_pairs = st.text("0123456789ABCDEF", min_size=2, max_size=2)


def decode(stream: bytes, cut_at: list[int] | None = None) -> list[Frame | FrameError]:
    """Feed ``stream`` cut at the given offsets (modulo its length)."""
    decoder = Decoder()
    points = [*sorted({c % (len(stream) + 1) for c in cut_at or []}), len(stream)]
    out: list[Frame | FrameError] = []
    start = 0
    for point in points:
        out += decoder.feed(stream[start:point])
        start = point
    return out


def frames(out: list[Frame | FrameError]) -> list[str]:
    return [o.card for o in out if isinstance(o, Frame)]


def problems(out: list[Frame | FrameError]) -> list[FrameProblem]:
    return [o.problem for o in out if isinstance(o, FrameError)]


@given(st.lists(st.tuples(noise, cards), max_size=12), noise, cuts)
def test_frames_between_noise_decode_in_order_for_any_chunking(
    items: list[tuple[bytes, str]], tail: bytes, cut_at: list[int]
) -> None:
    stream = b"".join(n + encode_frame(c) for n, c in items) + tail
    out = decode(stream, cut_at)
    assert frames(out) == [c for _, c in items]
    # each non-empty run of noise before a frame is one error; the tail waits for flush()
    assert problems(out) == [FrameProblem.NOISE for n, _ in items if n]
    assert out == decode(stream)  # the chunking changes nothing at all


@given(st.lists(cards, min_size=1, max_size=12), st.data())
def test_corrupting_one_checksum_loses_exactly_that_frame(sent: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(sent) - 1))
    encoded = [encode_frame(c) for c in sent]
    good_sum = encoded[i][11:13]
    bad_sum = data.draw(hex_pairs.filter(lambda p: p.encode() != good_sum))
    encoded[i] = encoded[i][:11] + bad_sum.encode() + encoded[i][13:]
    out = decode(b"".join(encoded), data.draw(cuts))
    assert frames(out) == sent[:i] + sent[i + 1 :]
    assert problems(out) == [FrameProblem.BAD_CHECKSUM]


@given(st.binary(max_size=400), cuts)
def test_any_bytes_decode_without_raising_and_alike_in_any_chunks(stream: bytes, cut_at: list[int]) -> None:
    out = decode(stream, cut_at)
    assert out == decode(stream)
    for card in frames(out):  # whatever comes out as a frame is a well-formed one
        assert len(card) == 10 and card == card.upper() and encode_frame(card) in stream.upper()


def test_each_kind_of_garbage_is_named() -> None:
    good = encode_frame("0A1B2C3D4E")
    bad_sum = good[:11] + b"00" + good[13:]
    stream = (
        b"\xff\xfe"  # noise
        + good[:6]  # truncated by the next STX
        + good
        + bad_sum
        + b"\x02"
        + b"Z" * 12
        + b"\x03"  # bad hex
        + b"\x02"
        + b"1" * 13
        + b"garbage\x03"  # overlong: swallowed up to its ETX
        + b"\x02123\x03"  # truncated by an early ETX
        + good
    )
    out = Decoder().feed(stream)
    assert problems(out) == [
        FrameProblem.NOISE,
        FrameProblem.TRUNCATED,
        FrameProblem.BAD_CHECKSUM,
        FrameProblem.BAD_HEX,
        FrameProblem.OVERLONG,
        FrameProblem.TRUNCATED,
    ]
    assert frames(out) == ["0A1B2C3D4E", "0A1B2C3D4E"]


def test_noise_is_reported_by_runs_capped_in_size_and_on_flush() -> None:
    decoder = Decoder()
    out = decoder.feed(b"\x00" * (MAX_NOISE_RUN * 2 + 5))
    assert [len(e.raw) for e in out if isinstance(e, FrameError)] == [MAX_NOISE_RUN, MAX_NOISE_RUN]
    assert [len(e.raw) for e in decoder.flush()] == [5]
    assert decoder.flush() == []
    decoder.feed(encode_frame("0000000001")[:5])
    assert decoder.flush() == []  # a partial frame is not noise: its end may still come


def test_frame_fields_lower_case_input_and_encoding() -> None:
    frame_bytes = encode_frame("0a1b2c3d4e")
    assert frame_bytes[1:11] == b"0A1B2C3D4E" and int(frame_bytes[11:13], 16) == 0x0A ^ 0x1B ^ 0x2C ^ 0x3D ^ 0x4E
    (frame,) = Decoder().feed(frame_bytes.lower())  # lower() leaves STX and ETX alone
    assert isinstance(frame, Frame)
    assert frame.card == "0A1B2C3D4E" and frame.version == 0x0A and frame.card_id == 0x1B2C3D4E
    for bad in ["", "0A1B2C3D4", "0A1B2C3D4EF", "0A1B2C3D4Z"]:
        with pytest.raises(ValueError):
            encode_frame(bad)
