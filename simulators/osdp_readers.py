"""OSDP readers (libosdp ``PeripheralDevice``) sharing one pty that plays the RS-485 bus.

A pty is point-to-point and an RS-485 bus is not, so the simulator is the wire: its bus thread
hands every byte the control panel writes to every reader (each reader's libosdp drops packets
for other addresses, as on a real bus), refreshes the readers, and writes whatever they answer
back to the panel. Only the addressed reader answers, so replies never overlap. One thread
drives all readers in lock step, so a reader answers within the same wake-up, not on its own
20 ms timer (``PeripheralDevice.start()`` would sleep that long between refreshes).

What a person at the turnstile would see is kept per reader (:class:`SimReader`): the LED
colour, the last beep and each output, with the ``time.perf_counter()`` at which the reader was
told, so that ``reader.led.at - reader.present(...)`` is the card → LED latency.

``baud``: a pty moves bytes instantly. Given a baud rate, the bus thread holds the wire for the
time a frame takes at that rate (ten bits a byte) before the readers hear it and before an
answer reaches the panel, one frame at a time as on half-duplex RS-485, so that latencies
include the wire. Tests leave it at None.

``unplug()`` / ``plug()`` pull and put back the USB adapter (see :class:`~simulators.pty_pair.PtyPair`):
the readers keep their state and keys, as powered readers on a bus would. ``remove()`` / ``add()``
cut one reader's wires and fit a (fresh) reader at an address while the bus runs.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osdp import (
    Capability,
    CardFormat,
    Channel,
    Command,
    Event,
    PDCapabilities,
    PDInfo,
    PeripheralDevice,
    StatusReportType,
)

from device_drivers.osdp.codec import LED_COLOURS, card_bytes
from device_drivers.osdp.panel import LOG_LEVEL
from simulators.pty_pair import PtyPair

__all__ = ["Beep", "LedState", "OsdpReadersSim", "OutputState", "ReaderSpec", "SimReader"]


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """A simulated reader: its address, its SCBK (None: factory fresh, in install mode) and outputs."""

    address: int
    scbk: bytes | None
    outputs: int = 2


@dataclass(frozen=True, slots=True)
class LedState:
    """The LED as last commanded. ``temporary`` lasts ``timer_ms``, then the permanent state returns."""

    colour: str
    temporary: bool
    timer_ms: int
    at: float  # time.perf_counter() when the reader got the command


@dataclass(frozen=True, slots=True)
class Beep:
    """The last buzzer command: ``repeats`` beeps of ``on_ms`` with ``off_ms`` between."""

    on_ms: int
    off_ms: int
    repeats: int
    at: float


@dataclass(frozen=True, slots=True)
class OutputState:
    """An output as last commanded: ``pulse_ms`` > 0 for a timed pulse, then off again."""

    output_no: int
    on: bool
    pulse_ms: int
    at: float


class _Pd(PeripheralDevice):
    """``osdp.PeripheralDevice`` that hands commands straight to us.

    The base class also keeps every command on an unbounded ``queue.Queue`` for ``get_command()``;
    a benchmark that never calls it would only grow.
    """

    def __init__(self, info: PDInfo, caps: PDCapabilities, on_command: Callable[[dict[str, Any]], None]) -> None:
        self._on_command = on_command
        super().__init__(info, caps, log_level=LOG_LEVEL)

    def _internal_command_handler(self, command: dict[str, Any]) -> tuple[int, None]:
        self._on_command(command)
        return 0, None


class _PdChannel(Channel):
    """One reader's tap on the bus: what the panel sent, and a way to answer."""

    def __init__(self, send: Callable[[bytes], int]) -> None:
        super().__init__()
        self._rx = bytearray()
        self._send = send

    def feed(self, data: bytes) -> None:
        self._rx += data

    def read(self, max_bytes: int) -> bytes:
        data = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        return self._send(buf)

    def flush(self) -> None:
        self._rx.clear()


class SimReader:
    """One OSDP reader on the simulated bus. Its methods are thread-safe."""

    def __init__(self, spec: ReaderSpec, cond: threading.Condition, send: Callable[[bytes], int]) -> None:
        self.spec = spec
        self.address = spec.address
        self.led: LedState | None = None
        self.beep: Beep | None = None
        self.outputs: dict[int, OutputState] = {}
        self.leds_seen = 0  # LED commands received; wait on it to see the next one
        self.commands: deque[tuple[float, dict[str, Any]]] = deque(maxlen=256)
        self._cond = cond
        self.channel = _PdChannel(send)
        caps = PDCapabilities(
            [
                (Capability.OutputControl, 1, spec.outputs),
                (Capability.LEDControl, 1, 1),
                (Capability.AudibleControl, 1, 1),
                (Capability.CommunicationSecurity, 1, 1),
            ]
        )
        info = PDInfo(spec.address, self.channel, scbk=spec.scbk, name=f"sim-{spec.address}")
        self._pd = _Pd(info, caps, self._command)

    # -- what the reader sends -------------------------------------------------------------------

    def present(self, value: int, bits: int = 26) -> float:
        """Present a card of ``bits`` raw (Wiegand) bits; returns the ``perf_counter()`` of the tap."""
        return self._submit(
            {
                "event": Event.CardRead,
                "reader_no": 0,
                "format": CardFormat.Wiegand,
                "direction": 0,
                "length": bits,
                "data": card_bytes(value, bits),
            }
        )

    def present_event(self, event: dict[str, Any]) -> float:
        """Queue any libosdp event dict as the reader's next answer to a poll (for odd cards)."""
        return self._submit(event)

    def tamper(self, active: bool = True) -> float:
        """Open (or close) the reader's case: a local status report with the tamper bit."""
        return self._submit({"event": Event.Status, "type": StatusReportType.Local, "report": bytes([int(active), 0])})

    def _submit(self, event: dict[str, Any]) -> float:
        at = time.perf_counter()  # the tap, before any wait for the bus thread
        with self._cond:
            if not self._pd.ctx.submit_event(event):
                raise RuntimeError(f"reader {self.address}: libosdp refused the event (queue full?)")
            return at

    # -- what the reader was told --------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether the reader hears a control panel."""
        with self._cond:
            return bool(self._pd.ctx.is_online())

    @property
    def secure(self) -> bool:
        """Whether the secure channel is up."""
        with self._cond:
            return bool(self._pd.ctx.is_sc_active())

    def wait(self, predicate: Callable[[SimReader], object], timeout_s: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked at each command); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout_s)

    def step(self, data: bytes) -> None:
        """Take the bytes that crossed the bus and let libosdp act on them (bus thread, lock held)."""
        if data:
            self.channel.feed(data)
        self._pd.ctx.refresh()

    def _command(self, command: dict[str, Any]) -> None:
        # On the bus thread, inside refresh(), with the condition's lock held.
        now = time.perf_counter()
        self.commands.append((now, command))
        kind = command.get("command")
        if kind == Command.LED:
            colour = LED_COLOURS.get(command.get("on_color", 0), "unknown")
            temporary = bool(command.get("temporary"))
            self.led = LedState(colour, temporary, int(command.get("timer_count", 0)) * 100, now)
            self.leds_seen += 1
        elif kind == Command.Buzzer:
            self.beep = Beep(command["on_count"] * 100, command["off_count"] * 100, command["rep_count"], now)
        elif kind == Command.Output:
            code, number = command["control_code"], command["output_no"]
            timed = code in (5, 6)
            on = code in (2, 4, 5)
            self.outputs[number] = OutputState(number, on, command["timer_count"] * 100 if timed else 0, now)
        self._cond.notify_all()


class OsdpReadersSim:
    """Several OSDP readers on one pty behind ``link``. Plugged on creation; ``close()`` when done."""

    tick_s = 0.002

    def __init__(self, link: str | os.PathLike[str], readers: Iterable[ReaderSpec], baud: int | None = None) -> None:
        self.byte_s = 10 / baud if baud else 0.0  # start, eight data bits, stop
        self._cond = threading.Condition()
        self._pty = PtyPair(link)
        specs = list(readers)
        if len({s.address for s in specs}) != len(specs):
            raise ValueError("two simulated readers share an address")
        self.readers: dict[int, SimReader] = {s.address: SimReader(s, self._cond, self._send) for s in specs}
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._start()

    @classmethod
    def with_keys(
        cls, link: str | os.PathLike[str], keys: Sequence[bytes | None], first: int = 1, baud: int | None = None
    ) -> OsdpReadersSim:
        """Readers at addresses ``first``, ``first + 1``, … with these SCBKs."""
        return cls(link, [ReaderSpec(first + i, key) for i, key in enumerate(keys)], baud)

    def reader(self, address: int) -> SimReader:
        """The reader at ``address``."""
        return self.readers[address]

    def add(self, spec: ReaderSpec) -> SimReader:
        """Connect a reader to the running bus (a fresh one: just powered up)."""
        with self._cond:
            if spec.address in self.readers:
                raise ValueError(f"address {spec.address} is taken")
            reader = self.readers[spec.address] = SimReader(spec, self._cond, self._send)
            return reader

    def remove(self, address: int) -> SimReader:
        """Cut a reader's wires: it hears nothing and answers nothing from now on."""
        with self._cond:
            return self.readers.pop(address)

    @property
    def link(self) -> Path:
        """The stable path the gateway opens."""
        return self._pty.link

    @property
    def slave_path(self) -> str | None:
        """The current ``/dev/pts/N`` behind :attr:`link` (None while unplugged)."""
        return self._pty.slave_path if self._pty.plugged else None

    def noise(self, data: bytes) -> None:
        """Put raw bytes on the bus towards the panel (interference, a stranger device)."""
        with self._cond:
            self._send(data)

    def unplug(self) -> None:
        """Pull the adapter: the pty closes and its path disappears; the readers keep their state."""
        self._stop_thread()
        with self._cond:
            self._pty.unplug()
            for reader in self.readers.values():
                reader.channel.flush()

    def plug(self) -> None:
        """Put the adapter back: a new pty behind the same path."""
        self.unplug()
        self._pty.plug()
        self._start()

    def close(self) -> None:
        """Unplug for good."""
        self.unplug()

    def _send(self, data: bytes) -> int:
        # A reader's answer (or noise), on the bus thread or under the condition's lock.
        master = self._pty.master
        if master is None:
            return 0
        if self.byte_s:
            time.sleep(len(data) * self.byte_s)  # the answer crossing the wire
        try:
            return os.write(master, data)
        except OSError:
            return 0

    def _start(self) -> None:
        master = self._pty.master
        if master is None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(master, self._stop), daemon=True, name=f"osdp-bus:{self.link.name}"
        )
        self._thread.start()

    def _stop_thread(self) -> None:
        # Stop the thread *before* the pty is closed: a new pty may reuse the descriptor number.
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._stop = self._thread = None

    def _run(self, master: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], self.tick_s)
                data = os.read(master, 4096) if ready else b""
            except (OSError, ValueError):
                return
            if data and self.byte_s:
                time.sleep(len(data) * self.byte_s)  # the panel's frame crossing the wire
            with self._cond:
                for reader in self.readers.values():
                    reader.step(data)
