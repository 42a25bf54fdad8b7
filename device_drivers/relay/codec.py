"""Turnstile relay boards over serial: the pulse commands written and the replies read. Sans-IO.

The protocol is a small ASCII one whose strings are data: a device profile
(``firmware_configs/profiles/*.yaml``) gives them per board model. The defaults::

    gateway -> board   "OPEN IN\\r\\n"     open the turnstile for one person going in
    gateway -> board   "OPEN OUT\\r\\n"    open it for one person going out
    board -> gateway   "OK"               done                      (the ack; may be none)
    board -> gateway   "ERR <detail>"     refused or failed         (the error prefix)

The board times the pulse itself (the turnstile controller's "open" input wants a dry contact
closed for a moment), so one command is one passage. Replies end with CR, LF or CR LF.
Commands are written as Latin-1, so that a profile can also describe a board with a binary
protocol, written with escapes in a double-quoted YAML string (``"\\xA0\\x01\\x01\\xA2"``).

Problems (:class:`RelayProblem`, one per line): ``unexpected_reply`` (neither the ack nor an
error), ``overlong``, ``truncated`` (see :mod:`device_drivers.lines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from device_drivers.base import Direction
from device_drivers.lines import LineDecoder, LineError

__all__ = ["MAX_REPLY", "RelayProblem", "RelayProtocol", "Reply", "ReplyDecoder"]

MAX_REPLY = 64


class RelayProblem(StrEnum):
    """Why a reply line was thrown away; the value is the counter name a driver uses."""

    UNEXPECTED_REPLY = "unexpected_reply"
    OVERLONG = "overlong"
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class RelayProtocol:
    """The strings of one board model. ``ack=None``: the board answers nothing."""

    entry: str = "OPEN IN\r\n"
    exit: str = "OPEN OUT\r\n"
    ack: str | None = "OK"
    error_prefix: str = "ERR"

    def __post_init__(self) -> None:
        for name in ("entry", "exit"):
            value = getattr(self, name)
            if not value:
                raise ValueError(f"the {name} command is empty")
            value.encode("latin-1")  # UnicodeEncodeError (a ValueError) names the character

    def command(self, direction: Direction) -> bytes:
        """The bytes that open the turnstile for one passage in ``direction``."""
        return (self.entry if direction is Direction.ENTRY else self.exit).encode("latin-1")


@dataclass(frozen=True, slots=True)
class Reply:
    """The board's answer to a command: ``ok``, or an error with the board's ``detail``."""

    ok: bool
    detail: str = ""


class ReplyDecoder(LineDecoder[Reply]):
    """Incremental decoder of a board's reply lines."""

    overlong = RelayProblem.OVERLONG
    truncated = RelayProblem.TRUNCATED

    def __init__(self, protocol: RelayProtocol, max_length: int = MAX_REPLY) -> None:
        super().__init__(max_length)
        self.protocol = protocol

    def parse(self, line: bytes) -> Reply | LineError | None:
        """One reply line → the ack, an error with its detail, or ``unexpected_reply``."""
        text = line.decode("latin-1").strip()
        if not text:
            return None
        if self.protocol.ack and text == self.protocol.ack:
            return Reply(True)
        prefix = self.protocol.error_prefix
        if prefix and text.startswith(prefix):
            return Reply(False, text[len(prefix) :].strip())
        return LineError(RelayProblem.UNEXPECTED_REPLY, line)
