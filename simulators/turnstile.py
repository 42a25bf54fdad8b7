"""A turnstile's relay board on a pseudo-terminal: records the pulses it receives and answers them.

It speaks the protocol of :mod:`device_drivers.relay.codec` with the strings of a profile
(defaults ``OPEN IN`` / ``OPEN OUT``, ``OK``, ``ERR …``). A jammed turnstile answers every command
with an error; a mute one answers nothing (for the driver's ``no_ack``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass

from device_drivers.base import Direction
from simulators.serial_device import FeedbackLine, SerialDeviceSim

__all__ = ["Pulse", "TurnstileSim"]


@dataclass(frozen=True, slots=True)
class Pulse:
    """A command the board received: the direction it opened (None: not a command it knows)."""

    direction: Direction | None
    text: str
    at: float  # time.perf_counter()


class TurnstileSim(SerialDeviceSim):
    """One simulated relay board. ``pulses`` is every command received, in order. Thread-safe."""

    def __init__(
        self,
        link: str | os.PathLike[str],
        *,
        entry: str = "OPEN IN",
        exit: str = "OPEN OUT",
        ack: str | None = "OK",
        error: str = "ERR jammed",
    ) -> None:
        self.commands = {entry.strip(): Direction.ENTRY, exit.strip(): Direction.EXIT}
        self.ack, self.error = ack, error
        self.jammed = False  # answer every command with ``error`` instead of ``ack``
        self.pulses: list[Pulse] = []
        self._pulsed = threading.Condition()
        super().__init__(link)

    def on_line(self, line: FeedbackLine) -> None:
        """Record the command and answer it, as the board does before the gateway's next command."""
        direction = self.commands.get(line.text)
        with self._pulsed:
            self.pulses.append(Pulse(direction, line.text, line.at))
            self._pulsed.notify_all()
        answer = self.error if self.jammed or direction is None else self.ack
        if answer is not None:
            with contextlib.suppress(OSError):  # unplugged meanwhile: the answer is lost, as on a real line
                self.write(answer.encode("latin-1") + b"\r\n")

    def wait_pulses(self, count: int, timeout_s: float = 5.0) -> list[Direction | None]:
        """The directions of the first ``count`` pulses, waiting up to ``timeout_s`` for them to arrive."""
        deadline = time.monotonic() + timeout_s
        with self._pulsed:
            while len(self.pulses) < count and (left := deadline - time.monotonic()) > 0:
                self._pulsed.wait(left)
            return [p.direction for p in self.pulses]
