"""A pseudo-terminal behind a stable path: a serial line that can be unplugged and plugged back.

The driver opens ``link`` (a symlink to the pty's slave side, ``/dev/pts/N``), as it would open
``/dev/serial/by-id/...`` for a USB adapter; the simulator reads and writes the master side.
``unplug()`` closes the pty and removes the symlink, as udev removes ``/dev/serial/by-id/...``
when an adapter is pulled: the driver's reads fail with ``EIO`` (or end-of-file) and reopening
fails with ``ENOENT``. (Leaving the link dangling would be wrong: the kernel hands the freed
``/dev/pts/N`` to the next pty opened by anyone, and the driver would open a stranger's line.)
``plug()`` makes a new pty and points the symlink at it atomically, so the driver finds the line
again on the same path.

The simulator keeps its own descriptor of the slave side open for as long as the pty exists: with
no slave open, reads of the master fail with ``EIO`` and bytes written to it are lost, so the line
would look dead before the driver has opened it.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path

__all__ = ["PtyPair"]


class PtyPair:
    """One pty in raw mode, reachable through the symlink ``link``. Plugged on creation."""

    def __init__(self, link: str | os.PathLike[str]) -> None:
        self.link = Path(link)
        self.master: int | None = None
        self.slave_path: str | None = None
        self._slave: int | None = None
        self.plug()

    @property
    def plugged(self) -> bool:
        """Whether the pty exists right now."""
        return self.master is not None

    def plug(self) -> str:
        """Create a fresh pty behind ``link`` (unplugging the old one first); returns its slave path."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass as they are
        name = os.ttyname(slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)  # rename(2): the path never points nowhere
        self.master, self._slave, self.slave_path = master, slave, name
        return name

    def unplug(self) -> None:
        """Remove the symlink and close the pty, as when the adapter is pulled."""
        if self.link.is_symlink():
            self.link.unlink(missing_ok=True)
        fds = (self.master, self._slave)
        self.master = self._slave = None
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def write(self, data: bytes) -> None:
        """Write all of ``data`` to the line (the driver reads it from the slave side)."""
        master = self.master
        if master is None:
            raise OSError("the line is unplugged")
        view = memoryview(data)
        while view:
            view = view[os.write(master, view) :]

    def close(self) -> None:
        """Unplug for good (the same as :meth:`unplug`; the name says the intent)."""
        self.unplug()
