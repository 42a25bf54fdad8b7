"""OSDP, sans-IO: libosdp's card-read events → credential text, and Feedback → libosdp commands.

Nothing here touches a port or a thread; libosdp (the ``osdp`` package) is used only for its
constants, so that the numbers we put in a command are the ones the library means.

Credential text. An OSDP reader reports a card as a string of bits (``length`` of them, packed
MSB first into ``data``, the last byte padded) in a *raw* format, usually the Wiegand bits the
card module produced. (The other form, osdp_FMT with ASCII text, is deprecated since OSDP 2.2.2
and libosdp drops it on both sides, so it never reaches us.) The gateway cannot know the
reader's bit layout (26, 34, 37 bits or a vendor's own), so it keeps every bit, parity
included, and writes::

    <bit count>:<the bits as one right-aligned upper-case hex number, ceil(bits/4) digits>
    26:2AF37BF

- Every bit is kept: stripping parity or splitting facility code from card number would need
  the layout, and two layouts would then give two credentials for one card.
- The bit count is part of the text: ``0x2AF37BF`` read as 26 bits and as 34 bits are two cards
  (leading zeros are bits too).
- Right-aligned: the value does not depend on what the reader puts in the padding bits of the
  last byte (they are masked off), so one card reads the same on every reader.
- The text never leaves the gateway: the pipeline hashes it with the site key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from osdp import CardFormat, Command, CommandLEDColor

from device_drivers.base import Direction, Feedback

__all__ = [
    "LED_COLOURS",
    "MAX_CARD_BITS",
    "CardError",
    "CardProblem",
    "ReaderSignals",
    "card_bytes",
    "card_credential",
    "feedback_commands",
    "raw_credential",
]

MAX_CARD_BITS = 512  # libosdp's own limit is 64 bytes of card data
_TENTHS_MAX = 255  # libosdp's Python binding keeps timers in one byte (of 100 ms units)

LED_COLOURS: dict[int, str] = {
    CommandLEDColor.Black: "black",
    CommandLEDColor.Red: "red",
    CommandLEDColor.Green: "green",
    CommandLEDColor.Amber: "amber",
    CommandLEDColor.Blue: "blue",
    CommandLEDColor.Magenta: "magenta",
    CommandLEDColor.Cyan: "cyan",
    CommandLEDColor.White: "white",
}


class CardProblem(StrEnum):
    """Why a card-read event gave no credential; the value is the driver's error counter."""

    MALFORMED = "card_malformed"  # a key missing or of the wrong type
    BAD_LENGTH = "card_bad_length"  # no bits, too many, or fewer data bytes than the bits need
    UNKNOWN_FORMAT = "card_unknown_format"  # not a raw format (libosdp drops ASCII reads itself)


@dataclass(frozen=True, slots=True)
class CardError:
    """A card-read event that could not be turned into a credential."""

    problem: CardProblem
    detail: str


def raw_credential(value: int, bits: int) -> str:
    """The credential text of ``bits`` card bits whose value (right-aligned) is ``value``."""
    if not 0 < bits <= MAX_CARD_BITS or not 0 <= value < (1 << bits):
        raise ValueError(f"{value:#x} does not fit in {bits} bits")
    return f"{bits}:{value:0{(bits + 3) // 4}X}"


def card_bytes(value: int, bits: int) -> bytes:
    """The ``data`` bytes a reader sends for ``bits`` bits of ``value``: MSB first, zero padded."""
    if not 0 < bits <= MAX_CARD_BITS or not 0 <= value < (1 << bits):
        raise ValueError(f"{value:#x} does not fit in {bits} bits")
    size = (bits + 7) // 8
    return (value << (size * 8 - bits)).to_bytes(size, "big")


def card_credential(event: Mapping[str, Any]) -> str | CardError:
    """The credential text of a libosdp ``Event.CardRead`` dict, or why there is none."""
    data = event.get("data")
    fmt = event.get("format")
    if not isinstance(data, bytes) or not isinstance(fmt, int):
        return CardError(CardProblem.MALFORMED, f"format={fmt!r} data={type(data).__name__}")
    if fmt not in (CardFormat.Unspecified, CardFormat.Wiegand):
        return CardError(CardProblem.UNKNOWN_FORMAT, str(fmt))
    bits = event.get("length")
    if not isinstance(bits, int):
        return CardError(CardProblem.MALFORMED, f"length={bits!r}")
    size = (bits + 7) // 8
    if not 0 < bits <= MAX_CARD_BITS or len(data) < size:
        return CardError(CardProblem.BAD_LENGTH, f"{bits} bits in {len(data)} bytes")
    value = int.from_bytes(data[:size], "big") >> (size * 8 - bits)  # drop the padding bits
    return raw_credential(value, bits)


@dataclass(frozen=True, slots=True)
class ReaderSignals:
    """How one reader shows a decision: LED time, beeps, and which output releases which way.

    Times are in milliseconds and go to the reader in 100 ms units (rounded, at least one unit,
    at most 25.5 s). Beeps are ``(on, off, repeats)`` in 100 ms units: one short beep for a
    grant, two long ones for a denial, which a person tells apart without looking.
    """

    led_ms: int = 1500
    pulse_ms: int = 3000
    entry_output: int = 0
    exit_output: int = 1
    grant_beep: tuple[int, int, int] = (1, 0, 1)
    deny_beep: tuple[int, int, int] = (4, 2, 2)

    def output_for(self, direction: Direction) -> int:
        """The output number wired to release the turnstile ``direction``."""
        return self.entry_output if direction is Direction.ENTRY else self.exit_output


def _tenths(ms: int) -> int:
    return max(1, min(_TENTHS_MAX, round(ms / 100)))


def feedback_commands(feedback: Feedback, signals: ReaderSignals) -> list[dict[str, Any]]:
    """The libosdp command dicts that show ``feedback`` on a reader, in the order to send them.

    The LED goes first (what the person looks at), then the output pulse that releases the
    turnstile, then the beep. The LED and output are *temporary*: the reader returns to its
    idle state by itself when the timer runs out, so a lost follow-up command never leaves a
    turnstile open or a reader green.
    """
    colour = CommandLEDColor.Green if feedback.granted else CommandLEDColor.Red
    led_tenths = _tenths(signals.led_ms)
    commands: list[dict[str, Any]] = [
        {
            "command": Command.LED,
            "reader": 0,
            "led_number": 0,
            "temporary": True,
            "control_code": 2,  # set the temporary state and start its timer
            "on_count": led_tenths,
            "off_count": 0,  # no off phase: steady on
            "on_color": colour,
            "off_color": CommandLEDColor.Black,
            "timer_count": led_tenths,
        }
    ]
    if feedback.granted and feedback.unlock is not None:
        commands.append(
            {
                "command": Command.Output,
                "output_no": signals.output_for(feedback.unlock),
                "control_code": 5,  # temporary on, then back to the permanent state (off)
                "timer_count": _tenths(signals.pulse_ms),
            }
        )
    on, off, repeats = signals.grant_beep if feedback.granted else signals.deny_beep
    commands.append(
        {
            "command": Command.Buzzer,
            "reader": 0,
            "control_code": 2,  # the reader's default tone
            "on_count": on,
            "off_count": off,
            "rep_count": repeats,
        }
    )
    return commands
