"""libosdp's ControlPanel on a serial port, refreshed by one thread that never touches the loop.

The driver owns one :class:`BusPanel` per open bus. The panel's thread is the only one that
calls into libosdp (it holds the panel's lock around every call). It tells its owner what
happened through ``post`` (``loop.call_soon_threadsafe``), so every callback below runs on the
asyncio loop, and the owner talks back only through :meth:`BusPanel.submit`, which queues and
wakes the thread but never waits for it.

Why our own refresh loop instead of ``ControlPanel.start()``: that loop sleeps 20 ms between
refreshes, and libosdp needs about three refreshes per command (pick it, send it, read the
reply), so with eight readers polled in turn a card would reach us a few hundred ms late. This
loop sleeps in ``select`` on the port and a wake pipe, so a reply or a queued feedback is acted
on at once, and ``tick_s`` bounds the wait when nothing happens (libosdp's own poll timer).
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import select
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from osdp import Channel, ControlPanel, Event, EventNotification, LibFlag, LogLevel, PDInfo

__all__ = ["LOG_LEVEL", "BusPanel", "PanelReader", "PortChannel"]

# libosdp's log level is process-wide and every ControlPanel/PeripheralDevice constructor resets
# it; errors (a reader going offline, a failed handshake) are worth an operator's eye, chatter is not.
LOG_LEVEL = LogLevel.Error
_RX_LIMIT = 4096  # more unread bytes than this is garbage: no OSDP packet is longer than ~1.5 KB

Post = Callable[..., object]


@dataclass(frozen=True, slots=True)
class PanelReader:
    """One PD as libosdp's control panel needs it."""

    address: int
    scbk: bytes
    install_mode: bool = False

    def flags(self) -> list[int]:
        """libosdp flags: the secure channel enforced, unless the reader is being installed."""
        # Notifications give us online/offline and secure-channel changes as events.
        if self.install_mode:
            # Not enforced: libosdp tries our SCBK, then the factory default (SCBK-D), and on success
            # sets our SCBK in the reader (osdp_KEYSET), after which it talks with our key.
            return [LibFlag.InstallMode, LibFlag.EnableNotification]
        return [LibFlag.EnforceSecure, LibFlag.EnableNotification]


class PortChannel(Channel):
    """The serial port as libosdp sees it: non-blocking, never raising into C.

    A failure of the port (``EIO`` when a USB adapter is pulled or a pty closed, end of file) is
    kept in :attr:`lost` for the refresh thread to report; libosdp only ever sees "no bytes".
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        # Every PD of the bus gets this one object. libosdp shares a channel between PDs with the
        # same id and serialises them with a lock in which 0 means "free": id 0 would never lock.
        self.id = 1
        self.fd = fd
        self.lost: str | None = None
        self.dropped = 0  # bytes thrown away because nobody read them (garbage on an idle bus)
        self._rx = bytearray()

    def pull(self, readable: bool = False) -> None:
        """Move what the port has into our buffer, so that a readable port never spins select.

        ``readable``: select said so. A tty with VMIN=0 (pyserial's ``timeout=0``) reads b"" when
        it simply has nothing, so only "readable, yet nothing" means the other end hung up.
        """
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lose(exc)
            return
        if not data:
            if readable:
                self.lost = self.lost or "end of file"
            return
        self._rx += data
        if len(self._rx) > _RX_LIMIT:
            extra = len(self._rx) - _RX_LIMIT
            del self._rx[:extra]
            self.dropped += extra

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` received bytes (libosdp calls this while it waits for a reply)."""
        if self.lost is None:
            self.pull()
        data = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        """Send ``buf``; returns how much went (0 when the port is gone or full)."""
        try:
            return os.write(self.fd, buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._lose(exc)
            return 0

    def flush(self) -> None:
        """Drop unread input (libosdp does this before it sends a command again)."""
        self._rx.clear()
        with contextlib.suppress(OSError):
            termios.tcflush(self.fd, termios.TCIFLUSH)

    def _lose(self, exc: OSError) -> None:
        self.lost = self.lost or errno.errorcode.get(exc.errno or 0, str(exc))


class _Panel(ControlPanel):
    """``osdp.ControlPanel`` with events handed straight to us.

    The base class also puts every event on an unbounded ``queue.Queue`` per PD for
    ``get_event()``; a gateway never calls that and would grow for weeks.
    """

    def __init__(self, infos: list[PDInfo], on_event: Callable[[int, dict[str, Any]], None]) -> None:
        self._on_event = on_event
        super().__init__(infos, log_level=LOG_LEVEL)
        self.lock = threading.Lock()  # ControlPanel.start() makes it; we run our own refresh thread

    def _internal_event_handler(self, pd: int, event: dict[str, Any]) -> int:
        self._on_event(pd, event)
        return 0


class BusPanel:
    """A control panel for the PDs of one bus, refreshed by its own thread.

    ``post`` must never raise (wrap ``loop.call_soon_threadsafe`` against a closed loop).

    ``on_event(index, event)`` gets every libosdp event dict (``index`` is the reader's position
    in ``readers``); ``on_sent(index, ok)`` says whether a queued feedback reached libosdp's
    queue; ``on_lost(reason)`` is called once if the port fails, and the thread then ends. All
    three run on the loop, through ``post``.
    """

    tick_s = 0.002

    def __init__(
        self,
        fd: int,
        readers: Sequence[PanelReader],
        *,
        post: Post,
        on_event: Callable[[int, dict[str, Any]], None],
        on_sent: Callable[[int, bool], None],
        on_lost: Callable[[str], None],
        offline_retry_s: float = 5.0,
    ) -> None:
        self.channel = PortChannel(fd)
        self.offline_retry_s = offline_retry_s
        self._post = post
        self._on_event = on_event
        self._on_sent = on_sent
        self._on_lost = on_lost
        infos = [PDInfo(r.address, self.channel, scbk=r.scbk, flags=r.flags(), name=f"PD-{r.address}") for r in readers]
        self._panel = _Panel(infos, self._event)
        self._count = len(readers)
        self._commands: queue.SimpleQueue[tuple[int, list[dict[str, Any]]]] = queue.SimpleQueue()
        self._offline_since: dict[int, float] = {}  # touched by the refresh thread only
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="osdp-cp", daemon=True)

    def start(self) -> None:
        """Start the refresh thread."""
        self._thread.start()

    def submit(self, index: int, commands: list[dict[str, Any]]) -> None:
        """Queue commands for reader ``index`` and wake the thread; never blocks."""
        self._commands.put((index, commands))
        self._wake()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and free libosdp's context (blocks up to ``timeout_s``; idempotent)."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._panel.ctx = None  # osdp_cp_teardown, now that no thread is inside it
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already awake) or closed (stopped)
            os.write(self._wake_w, b"\0")

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug here must not leave the bus silently dead: reconnect
            self._post(self._on_lost, f"refresh failed: {exc!r}")

    def _loop(self) -> None:
        channel, panel = self.channel, self._panel
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([channel.fd, self._wake_r], [], [], self.tick_s)
            except (OSError, ValueError) as exc:  # the port's descriptor went away under us
                channel.lost = channel.lost or str(exc)
                ready = []
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            if channel.fd in ready:
                channel.pull(readable=True)
            if channel.lost is not None:
                self._post(self._on_lost, channel.lost)
                return
            with panel.lock:
                self._submit_queued(panel)
                # Twice: libosdp picks a command in one refresh and sends it in the next.
                panel.ctx.refresh()
                panel.ctx.refresh()
                self._retry_offline(panel, time.monotonic())

    def _submit_queued(self, panel: _Panel) -> None:
        while True:
            try:
                index, commands = self._commands.get_nowait()
            except queue.Empty:
                return
            ok = True
            for command in commands:
                # False when the reader is not online or libosdp's queue is full.
                ok = bool(panel.ctx.submit_command(index, command)) and ok
            self._post(self._on_sent, index, ok)

    def _retry_offline(self, panel: _Panel, now: float) -> None:
        # libosdp waits 300 s (compiled in) before it tries an offline reader again. A reader that
        # was unplugged for a minute should not stay dark for five: disabling and re-enabling it
        # restarts its handshake at once.
        for index, since in list(self._offline_since.items()):
            if now - since < self.offline_retry_s:
                continue
            if panel.ctx.is_pd_enabled(index):
                panel.ctx.disable_pd(index)  # takes effect on a later refresh
            else:
                panel.ctx.enable_pd(index)
                del self._offline_since[index]  # the next failure starts a new wait

    def _event(self, index: int, event: dict[str, Any]) -> None:
        # Called by libosdp inside refresh(), on the refresh thread, with the lock held. Nothing
        # here may raise: an exception in a callback surfaces later as a SystemError in refresh().
        if (
            0 <= index < self._count
            and event.get("event") == Event.Notification
            and event.get("type") == EventNotification.PeripheralDeviceStatus
        ):
            if event.get("arg0"):
                self._offline_since.pop(index, None)
            else:
                self._offline_since.setdefault(index, time.monotonic())
        self._post(self._on_event, index, event)
