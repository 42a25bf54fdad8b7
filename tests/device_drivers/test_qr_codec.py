"""Scanner lines: any line end, any chunking; control characters, bad UTF-8 and overlong lines named."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from device_drivers.lines import LineError
from device_drivers.qr.codec import MAX_LENGTH, Decoder, QrProblem, ScannedCode
from tests.device_drivers.chunks import cuts, feed_cut

# printable text as a scanner reads it from a QR code or a barcode, Cyrillic and Kazakh letters included
codes = st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=60)
line_ends = st.sampled_from([b"\r", b"\n", b"\r\n"])
controls = st.sampled_from(["\x00", "\x07", "\x1b", "\t", "\x7f", "\x85", "\u2028"])


def texts(out: list[ScannedCode | LineError]) -> list[str]:
    return [o.text for o in out if isinstance(o, ScannedCode)]


def problems(out: list[ScannedCode | LineError]) -> list[QrProblem]:
    return [QrProblem(o.problem) for o in out if isinstance(o, LineError)]


@given(st.lists(st.tuples(codes, line_ends, st.booleans(), controls), max_size=12), cuts)
def test_codes_and_control_garbage_decode_alike_in_any_chunks(
    items: list[tuple[str, bytes, bool, str]], cut_at: list[int]
) -> None:
    stream = b"".join(
        (f"{code[:3]}{ctl}{code[3:]}".encode() + end if noisy else b"") + code.encode() + end
        for code, end, noisy, ctl in items
    )
    out = feed_cut(Decoder(), stream, cut_at)
    assert texts(out) == [code for code, *_ in items]
    assert problems(out) == [QrProblem.CONTROL_CHAR for _, _, noisy, _ in items if noisy]
    assert out == feed_cut(Decoder(), stream)


def test_each_kind_of_bad_line_is_named_and_the_next_line_reads() -> None:
    decoder = Decoder()
    out = decoder.feed(
        b"SW1:\x1b[0m42\r\n"  # an escape sequence in the middle
        + b"\xff\xfeSW1\r\n"  # not UTF-8
        + b"A" * (MAX_LENGTH + 10)
        + b"\r\n"  # overlong: one error, the rest skipped
        + b"\r\n \r\n"  # blank lines: nothing at all
        + "  Мектеп №1 — 7А  ".encode()
        + b"\r\n"  # spaces around are dropped, inside kept
        + b"SW1:abc"  # no line end yet
    )
    assert problems(out) == [QrProblem.CONTROL_CHAR, QrProblem.NOT_UTF8, QrProblem.OVERLONG]
    assert texts(out) == ["Мектеп №1 — 7А"]
    assert problems(decoder.flush()) == [QrProblem.TRUNCATED]
    assert texts(decoder.feed(b"SW1:def\n")) == ["SW1:def"]


def test_the_length_limit_is_in_bytes_and_configurable() -> None:
    assert texts(feed_cut(Decoder(16), b"x" * 16 + b"\n")) == ["x" * 16]
    assert problems(feed_cut(Decoder(16), b"x" * 17 + b"\n" + b"ok\n")) == [QrProblem.OVERLONG]
    assert problems(feed_cut(Decoder(16), "Ә".encode() * 9 + b"\n")) == [QrProblem.OVERLONG]  # 18 bytes


@given(st.binary(max_size=400), cuts)
def test_any_bytes_decode_without_raising_and_alike_in_any_chunks(stream: bytes, cut_at: list[int]) -> None:
    out = feed_cut(Decoder(), stream, cut_at)
    assert out == feed_cut(Decoder(), stream)
    for text in texts(out):  # whatever comes out is printable text from a line of the stream
        assert text.isprintable() and text == text.strip(" ") and text.encode() in stream
