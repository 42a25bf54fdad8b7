"""Turnstile relay boards on a serial port: a grant opens the turnstile in its direction.

A relay board is a link with one "reader" id, the board's own. It reads no cards: the gateway
routes a reader's grant to the board of its turnstile (``Devices.releases``), and
:meth:`RelayDriver.feedback` writes the profile's string for the grant's direction. Denials and
grants without a direction open nothing.

The board's replies are read as they come. An error reply, or no ack within ``ack_timeout_s``,
is counted (``relay_error``, ``no_ack``) and reported once as an ``error`` status of the board;
the next ack reports it ``online`` again. Everything else (port, reconnect, non-blocking writes)
is :class:`~device_drivers.serial_line.SerialLineDriver`'s.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from device_drivers.base import Direction, Feedback, LinkState, ReadSink, StatusChange, utcnow
from device_drivers.relay.codec import RelayProtocol, Reply, ReplyDecoder
from device_drivers.serial_line import SerialLineConfig, SerialLineDriver

__all__ = ["RelayConfig", "RelayDriver"]


@dataclass(frozen=True, slots=True)
class RelayConfig(SerialLineConfig):
    """One relay board on one serial port, with its model's strings."""

    protocol: RelayProtocol = field(default_factory=RelayProtocol)
    ack_timeout_s: float = 1.0


class RelayDriver(SerialLineDriver[Reply]):
    """Writes open-for-entry and open-for-exit pulses; reads and checks the board's replies.

    ``pulses`` counts the commands written, by direction; ``acks`` the board's acks.
    Counters (``stats.errors``): ``relay_error``, ``no_ack``, and one per
    :class:`~device_drivers.relay.codec.RelayProblem` (``unexpected_reply``, ``overlong``,
    ``truncated``), plus ``feedback_dropped``.
    """

    def __init__(self, config: RelayConfig) -> None:
        super().__init__(config)
        self.protocol = config.protocol
        self.ack_timeout_s = config.ack_timeout_s
        self.pulses: Counter[Direction] = Counter()
        self.acks = 0
        self._awaiting: deque[float] = deque()  # when each unanswered command was written
        self._faulty = False

    async def open(self) -> None:
        """Open the port; what was awaited on the old line will never be answered."""
        await super().open()
        self._awaiting.clear()
        self._faulty = False

    def new_decoder(self) -> ReplyDecoder:
        """A fresh reply decoder for this model's strings."""
        return ReplyDecoder(self.protocol)

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """On a grant with a direction, write that direction's command; never blocks."""
        if not feedback.granted or feedback.unlock is None:
            return
        if self.write(self.protocol.command(feedback.unlock)):
            self.pulses[feedback.unlock] += 1
            if self.protocol.ack:
                self._awaiting.append(time.monotonic())

    def received(self, item: Reply, sink: ReadSink) -> None:
        """An ack clears the board's fault; an error reply sets it."""
        if self._awaiting:
            self._awaiting.popleft()
        if item.ok:
            self.acks += 1
            self._report(sink, faulty=False, detail="board answers again")
        else:
            self.stats.error("relay_error")
            self._report(sink, faulty=True, detail=f"board answered an error: {item.detail or '-'}")

    def on_tick(self, sink: ReadSink) -> None:
        """Count the commands the board left unanswered for ``ack_timeout_s``."""
        cutoff = time.monotonic() - self.ack_timeout_s
        missed = 0
        while self._awaiting and self._awaiting[0] < cutoff:
            self._awaiting.popleft()
            missed += 1
        if missed:
            self.stats.error("no_ack", missed)
            self._report(sink, faulty=True, detail=f"no answer to {missed} command(s)")

    def _report(self, sink: ReadSink, *, faulty: bool, detail: str) -> None:
        if faulty == self._faulty:
            return  # changes only: a jammed turnstile must not flood the outbox with events
        self._faulty = faulty
        state = LinkState.ERROR if faulty else LinkState.ONLINE
        sink.status_changed(StatusChange(self.link_id, state, detail, utcnow()))
