"""OSDP codec: card bits → credential text, and a decision → the LED, output and buzzer commands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from osdp import CardFormat, Command, CommandLEDColor, Event

from device_drivers.base import Direction, Feedback
from device_drivers.osdp.codec import (
    CardError,
    CardProblem,
    ReaderSignals,
    card_bytes,
    card_credential,
    feedback_commands,
    raw_credential,
)


def wiegand(data: bytes, bits: int) -> dict[str, object]:
    return {
        "event": Event.CardRead,
        "reader_no": 0,
        "format": CardFormat.Wiegand,
        "direction": 0,
        "length": bits,
        "data": data,
    }


def test_a_26_bit_card_keeps_every_bit_and_its_count() -> None:
    # 26 bits, MSB first, padded with six bits in the last byte: 10101011 11001101 11101111 11......
    assert card_credential(wiegand(bytes([0xAB, 0xCD, 0xEF, 0xC0]), 26)) == "26:2AF37BF"
    assert card_credential(wiegand(bytes([0xAB, 0xCD, 0xEF, 0xFF]), 26)) == "26:2AF37BF"  # padding bits ignored
    assert card_credential(wiegand(bytes([0x00, 0x00, 0x00, 0x40]), 26)) == "26:0000001"  # leading zeros kept
    unspecified = {**wiegand(bytes([0xAB, 0xCD, 0xEF, 0xC0]), 26), "format": CardFormat.Unspecified}
    assert card_credential(unspecified) == "26:2AF37BF"


def test_the_same_value_in_another_bit_count_is_another_card() -> None:
    assert raw_credential(0x2AF37BF, 26) != raw_credential(0x2AF37BF, 34)
    assert raw_credential(0x2AF37BF, 34) == "34:002AF37BF"


@given(bits=st.integers(1, 512), data=st.data(), padding=st.integers(0, 255))
def test_card_bytes_read_back_as_the_same_credential(bits: int, data: st.DataObject, padding: int) -> None:
    value = data.draw(st.integers(0, (1 << bits) - 1))
    raw = bytearray(card_bytes(value, bits))
    raw[-1] |= padding & ((1 << (len(raw) * 8 - bits)) - 1)  # whatever the reader leaves in the padding
    assert card_credential(wiegand(bytes(raw), bits)) == raw_credential(value, bits)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (wiegand(b"\xab\xcd", 26), CardProblem.BAD_LENGTH),  # fewer bytes than the bits need
        (wiegand(b"", 0), CardProblem.BAD_LENGTH),
        (wiegand(b"\x00" * 80, 640), CardProblem.BAD_LENGTH),
        ({"format": CardFormat.Wiegand, "data": b"\x01"}, CardProblem.MALFORMED),  # no length
        ({"format": CardFormat.Wiegand, "length": 8}, CardProblem.MALFORMED),  # no data
        ({"format": 9, "length": 8, "data": b"\x01"}, CardProblem.UNKNOWN_FORMAT),
        ({"format": CardFormat.ASCII, "data": b"12345"}, CardProblem.UNKNOWN_FORMAT),
    ],
)
def test_unreadable_cards_say_why(event: dict[str, object], problem: CardProblem) -> None:
    result = card_credential(event)
    assert isinstance(result, CardError) and result.problem is problem


def test_raw_credential_refuses_a_value_that_does_not_fit() -> None:
    with pytest.raises(ValueError):
        raw_credential(1 << 26, 26)
    with pytest.raises(ValueError):
        card_bytes(5, 0)


def test_grant_is_green_a_short_beep_and_a_pulse_on_the_direction_output() -> None:
    signals = ReaderSignals(led_ms=1500, pulse_ms=3000, entry_output=2, exit_output=3)
    entry = feedback_commands(Feedback(True, "ok", unlock=Direction.ENTRY), signals)
    assert [c["command"] for c in entry] == [Command.LED, Command.Output, Command.Buzzer]
    led, output, beep = entry
    assert led["on_color"] == CommandLEDColor.Green and led["temporary"] and led["timer_count"] == 15
    assert output == {"command": Command.Output, "output_no": 2, "control_code": 5, "timer_count": 30}
    assert (beep["on_count"], beep["rep_count"]) == (1, 1)
    exit_ = feedback_commands(Feedback(True, "ok", unlock=Direction.EXIT), signals)
    assert exit_[1]["output_no"] == 3


def test_deny_is_red_two_long_beeps_and_no_output() -> None:
    commands = feedback_commands(Feedback(False, "card_blocked"), ReaderSignals())
    assert [c["command"] for c in commands] == [Command.LED, Command.Buzzer]
    assert commands[0]["on_color"] == CommandLEDColor.Red
    assert commands[1]["rep_count"] == 2 and commands[1]["on_count"] > 1


def test_a_grant_without_a_direction_opens_nothing() -> None:
    commands = feedback_commands(Feedback(True, "ok"), ReaderSignals())
    assert Command.Output not in [c["command"] for c in commands]


def test_timers_fit_in_what_the_reader_takes() -> None:
    commands = feedback_commands(
        Feedback(True, "ok", unlock=Direction.ENTRY), ReaderSignals(led_ms=40, pulse_ms=90_000)
    )
    assert commands[0]["timer_count"] == 1 and commands[1]["timer_count"] == 255
