"""Wiegand 26/34 readers behind a serial converter: converter lines in, decision lines out.

All the I/O (non-blocking pyserial watched by the event loop, reconnect on ``EIO``, repeat
suppression, the ``GRANT``/``DENY`` lines for a controller on the same line) is
:class:`~device_drivers.serial_line.SerialReaderDriver`'s. The converter formats and the
credential (``FFF:NNNNN``) are described in :mod:`device_drivers.wiegand.codec`.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.serial_line import SerialReaderConfig, SerialReaderDriver
from device_drivers.wiegand.codec import Decoder, WiegandFrame
from shared.contract import CredentialKind

__all__ = ["WiegandConfig", "WiegandDriver"]


@dataclass(frozen=True, slots=True)
class WiegandConfig(SerialReaderConfig):
    """One Wiegand reader behind one serial converter."""


class WiegandDriver(SerialReaderDriver[WiegandFrame]):
    """Turns converter lines into card reads (kind ``wiegand``, credential ``FFF:NNNNN``).

    Counters (``stats.errors``): one per :class:`~device_drivers.wiegand.codec.WiegandProblem`
    (``bad_parity``, ``bad_bit_count``, ``garbage``, ``overlong``, ``truncated``), plus
    ``repeat_suppressed`` and ``feedback_dropped``.
    """

    kind = CredentialKind.WIEGAND

    def new_decoder(self) -> Decoder:
        """A fresh line decoder (both converter formats)."""
        return Decoder()

    def credential(self, item: WiegandFrame) -> str:
        """Facility and card number, ``FFF:NNNNN`` or ``FFFFF:NNNNN``."""
        return item.credential
