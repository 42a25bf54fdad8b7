"""OSDP v2 readers on one RS-485 bus, with libosdp as the control panel.

One driver per bus (one serial port, opened exclusively with pyserial); every reader on it is a
PD at its own address, and ``reader_ids`` names them all. The driver adapts libosdp, it does not
speak OSDP itself::

    asyncio loop                               refresh thread (panel.BusPanel)
    feedback() ──── queue + wake pipe ───────> submit_command(), refresh() <──> serial port
    _on_event() <── call_soon_threadsafe ───── card read, tamper, online/offline, SC status
    read() <──────── lost future ───────────── the port failed: LinkLost, run() reopens

Security: each reader has its own secure-channel base key (SCBK) and the secure channel is
enforced: a reader that cannot set it up (a wrong key, a swapped reader) stays offline and
nothing it sends is taken. ``install_mode`` (only when the site file says so, logged as a
warning) lets libosdp fall back to the factory key and set ours in the reader.

Status: the bus itself is reported by :meth:`LinkDriver.run` under ``link_id``; each reader is
reported under its own id: ``online`` (with or without the secure channel), ``offline``, and
``error`` while it reports tamper or a power failure. When the port goes away every reader is
reported offline, and a new control panel is built when it comes back (libosdp would otherwise
wait 300 s before it tries an offline reader again).

Counters (``stats.errors``): ``feedback_dropped`` (unknown or offline reader, or libosdp refused
the commands), ``command_failed`` (a reader did not acknowledge a command), the
:class:`~device_drivers.osdp.codec.CardProblem` values, ``insecure_read`` (a card from a reader
without the secure channel outside install mode), ``unknown_reader`` (an event for no reader of
ours), ``event_malformed``, ``event_ignored`` (keypad and other events we do not use) and
``rx_dropped`` (bytes of garbage nobody read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial
from osdp import Event, EventNotification, StatusReportType

from device_drivers.base import (
    CardRead,
    Feedback,
    LinkDriver,
    LinkLost,
    LinkState,
    ReadSink,
    StatusChange,
    utcnow,
)
from device_drivers.osdp.codec import CardError, ReaderSignals, card_credential, feedback_commands
from device_drivers.osdp.panel import BusPanel, PanelReader
from shared.contract import CredentialKind

__all__ = ["OsdpConfig", "OsdpDriver", "OsdpReader"]

log = logging.getLogger(__name__)

_UP = (LinkState.ONLINE, LinkState.ERROR)  # a tampered reader still answers and shows feedback


@dataclass(frozen=True, slots=True)
class OsdpReader:
    """One reader (PD) on the bus: its address, its SCBK (16 bytes) and how it shows decisions."""

    reader_id: str
    address: int
    scbk: bytes
    install_mode: bool = False
    signals: ReaderSignals = field(default_factory=ReaderSignals)

    def __post_init__(self) -> None:
        if len(self.scbk) != 16:
            raise ValueError(f"{self.reader_id}: an SCBK is 16 bytes, not {len(self.scbk)}")
        if not 0 <= self.address <= 126:
            raise ValueError(f"{self.reader_id}: an OSDP address is 0..126, not {self.address}")


@dataclass(frozen=True, slots=True)
class OsdpConfig:
    """One RS-485 bus: the serial port and the readers on it."""

    bus_id: str
    port: str
    readers: tuple[OsdpReader, ...]
    baud: int = 115200


class OsdpDriver(LinkDriver):
    """Card reads from every reader of one OSDP bus; LED, buzzer and output feedback back to them."""

    offline_retry_s = 5.0  # how soon a reader that went offline is tried again
    tick_s = BusPanel.tick_s

    def __init__(self, config: OsdpConfig) -> None:
        super().__init__()
        if not config.readers:
            raise ValueError(f"{config.bus_id}: a bus needs at least one reader")
        self.config = config
        self.link_id = config.bus_id
        self.reader_ids = tuple(r.reader_id for r in config.readers)
        self.reader_state: dict[str, LinkState] = {}
        self._index = {r.reader_id: i for i, r in enumerate(config.readers)}
        self._serial: serial.Serial | None = None
        self._panel: BusPanel | None = None
        self._secure: set[int] = set()  # readers whose secure channel is up
        for reader in config.readers:
            if reader.install_mode:
                log.warning(
                    "%s: reader %s (address %d) is in install mode: the secure channel is not enforced",
                    config.bus_id,
                    reader.reader_id,
                    reader.address,
                )

    async def open(self) -> None:
        """Open the port; a missing port raises ``OSError`` and ``run()`` retries."""
        # exclusive: a second control panel on the same bus would garble every exchange
        self._serial = serial.Serial(self.config.port, self.config.baud, timeout=0, write_timeout=0, exclusive=True)

    async def read(self, sink: ReadSink) -> None:
        """Run a control panel on the open port until the port fails (then raise :class:`LinkLost`)."""
        port = self._serial
        if port is None:
            raise LinkLost("port is not open")
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()

        def post(fn: Callable[..., object], *args: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
                loop.call_soon_threadsafe(fn, *args)

        def on_lost(reason: str) -> None:
            if not lost.done():
                lost.set_result(reason)

        panel = BusPanel(
            port.fileno(),
            [PanelReader(r.address, r.scbk, r.install_mode) for r in self.config.readers],
            post=post,
            on_event=lambda index, event: self._on_event(panel, sink, index, event),
            on_sent=lambda index, ok: self._on_sent(panel, ok),
            on_lost=on_lost,
            offline_retry_s=self.offline_retry_s,
        )
        panel.tick_s = self.tick_s
        self._panel = panel
        panel.start()
        try:
            reason = await lost
            raise LinkLost(f"{self.config.port}: {reason}")
        finally:
            await self._stop_panel()
            self._secure.clear()
            for reader_id in self.reader_ids:
                self._report(sink, reader_id, LinkState.OFFLINE, "bus closed")

    async def close(self) -> None:
        """Stop the control panel and close the port. Safe to call when it is already closed."""
        await self._stop_panel()
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    async def _stop_panel(self) -> None:
        panel, self._panel = self._panel, None
        if panel is not None:
            await asyncio.to_thread(panel.stop)
            if panel.channel.dropped:
                self.stats.error("rx_dropped", panel.channel.dropped)

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        """Queue the LED, output and buzzer commands for ``reader_id``; dropped (counted) if it is not up."""
        index = self._index.get(reader_id)
        panel = self._panel
        if index is None or panel is None or self.reader_state.get(reader_id) not in _UP:
            self.stats.error("feedback_dropped")
            return
        panel.submit(index, feedback_commands(feedback, self.config.readers[index].signals))

    # -- on the loop, from the refresh thread ----------------------------------------------------

    def _on_sent(self, panel: BusPanel, ok: bool) -> None:
        if panel is not self._panel:
            return  # from a panel that has been stopped since
        if ok:
            self.stats.feedback_sent += 1
        else:
            self.stats.error("feedback_dropped")

    def _on_event(self, panel: BusPanel, sink: ReadSink, index: int, event: dict[str, Any]) -> None:
        if panel is not self._panel:
            return
        if not 0 <= index < len(self.config.readers):
            self.stats.error("unknown_reader")
            return
        reader = self.config.readers[index]
        kind = event.get("event")
        if kind == Event.CardRead:
            self._card(sink, index, reader, event)
        elif kind == Event.Notification:
            self._notification(sink, index, reader, event)
        elif kind == Event.Status and event.get("type") == StatusReportType.Local:
            self._local_status(sink, reader, event)
        elif isinstance(kind, int):
            self.stats.error("event_ignored")
        else:
            self.stats.error("event_malformed")

    def _card(self, sink: ReadSink, index: int, reader: OsdpReader, event: dict[str, Any]) -> None:
        if index not in self._secure and not reader.install_mode:
            self.stats.error("insecure_read")  # libosdp's EnforceSecure should make this impossible
            return
        credential = card_credential(event)
        if isinstance(credential, CardError):
            log.debug("%s: unreadable card: %s", reader.reader_id, credential.detail)
            self.stats.error(credential.problem.value)
            return
        self.stats.reads += 1
        sink.card_read(CardRead(reader.reader_id, credential, CredentialKind.OSDP, utcnow()))

    def _notification(self, sink: ReadSink, index: int, reader: OsdpReader, event: dict[str, Any]) -> None:
        kind, arg0, arg1 = event.get("type"), event.get("arg0"), event.get("arg1")
        if kind == EventNotification.SecureChannelStatus:
            if arg0:
                self._secure.add(index)
            else:
                self._secure.discard(index)
        elif kind == EventNotification.PeripheralDeviceStatus:
            if arg0:
                detail = "secure channel active" if index in self._secure else "secure channel NOT active"
                self._report(sink, reader.reader_id, LinkState.ONLINE, detail)
            else:
                self._report(sink, reader.reader_id, LinkState.OFFLINE, "no answer, or secure channel refused")
        elif kind == EventNotification.Command:
            if not arg1:
                self.stats.error("command_failed")
        else:
            self.stats.error("event_malformed")

    def _local_status(self, sink: ReadSink, reader: OsdpReader, event: dict[str, Any]) -> None:
        report = event.get("report")
        if not isinstance(report, bytes) or len(report) < 2:
            self.stats.error("event_malformed")
            return
        problems = [name for name, flag in (("tamper", report[0]), ("power failure", report[1])) if flag]
        if problems:
            self._report(sink, reader.reader_id, LinkState.ERROR, ", ".join(problems))
        elif self.reader_state.get(reader.reader_id) is LinkState.ERROR:
            self._report(sink, reader.reader_id, LinkState.ONLINE, "tamper and power normal")

    def _report(self, sink: ReadSink, reader_id: str, state: LinkState, detail: str) -> None:
        previous = self.reader_state.get(reader_id)
        if previous is state or (previous is None and state is LinkState.OFFLINE and detail == "bus closed"):
            return  # changes only; and a reader never heard of is not "lost" when the bus closes
        self.reader_state[reader_id] = state
        sink.status_changed(StatusChange(reader_id, state, detail, utcnow()))
