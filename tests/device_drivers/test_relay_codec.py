"""Relay board strings are data: commands per direction, Latin-1 for binary boards, replies classified."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.base import Direction
from device_drivers.lines import LineError
from device_drivers.relay.codec import RelayProblem, RelayProtocol, Reply, ReplyDecoder
from tests.device_drivers.chunks import cuts, feed_cut


def test_commands_per_direction_and_binary_boards() -> None:
    default = RelayProtocol()
    assert default.command(Direction.ENTRY) == b"OPEN IN\r\n" and default.command(Direction.EXIT) == b"OPEN OUT\r\n"
    binary = RelayProtocol(entry="\xa0\x01\x01\xa2", exit="\xa0\x02\x01\xa3", ack=None)
    assert binary.command(Direction.EXIT) == bytes([0xA0, 0x02, 0x01, 0xA3])
    for bad in [{"entry": ""}, {"exit": "ОТКРЫТЬ"}]:  # empty, or not one byte per character
        with pytest.raises(ValueError):
            RelayProtocol(**bad)


def test_replies_ack_error_and_unexpected() -> None:
    decoder = ReplyDecoder(RelayProtocol(ack="A", error_prefix="E"))
    out = decoder.feed(b"A\r\nE 3 jammed\r\n\r\nOK\r\n" + b"x" * 100 + b"\nA\n")
    assert out[:3] == [Reply(True), Reply(False, "3 jammed"), LineError(RelayProblem.UNEXPECTED_REPLY, b"OK")]
    assert [o.problem for o in out[3:4] if isinstance(o, LineError)] == [RelayProblem.OVERLONG]
    assert out[4:] == [Reply(True)]
    mute = ReplyDecoder(RelayProtocol(ack=None))
    assert mute.feed(b"OK\r\n") == [LineError(RelayProblem.UNEXPECTED_REPLY, b"OK")]  # it was not to answer


@given(st.lists(st.sampled_from([b"OK", b"ERR jammed", b"ERR", b"??"]), max_size=20), cuts)
def test_replies_decode_alike_in_any_chunks(replies: list[bytes], cut_at: list[int]) -> None:
    stream = b"".join(r + b"\r\n" for r in replies)
    out = feed_cut(ReplyDecoder(RelayProtocol()), stream, cut_at)
    assert out == feed_cut(ReplyDecoder(RelayProtocol()), stream)
    assert [isinstance(o, Reply) and o.ok for o in out] == [r == b"OK" for r in replies]
