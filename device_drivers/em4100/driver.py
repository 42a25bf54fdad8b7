"""EM4100 readers (RDM6300 and alike) on a serial port: frames in, decision lines out.

All the I/O (non-blocking pyserial watched by the event loop, reconnect on ``EIO``, repeat
suppression, the ``GRANT``/``DENY`` lines for the controller on the same line) is
:class:`~device_drivers.serial_line.SerialReaderDriver`'s; this module only says that a good
frame's credential is its ten hex characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.em4100.codec import Decoder, Frame
from device_drivers.serial_line import SerialReaderConfig, SerialReaderDriver
from shared.contract import CredentialKind

__all__ = ["Em4100Config", "Em4100Driver"]


@dataclass(frozen=True, slots=True)
class Em4100Config(SerialReaderConfig):
    """One EM4100 reader on one serial port (RDM6300: 9600 8N1)."""


class Em4100Driver(SerialReaderDriver[Frame]):
    """Turns EM4100 frames into card reads; writes feedback lines back to the controller.

    Counters (``stats.errors``): one per :class:`~device_drivers.em4100.codec.FrameProblem`
    (``noise``, ``truncated``, ``bad_hex``, ``bad_checksum``, ``overlong``), plus
    ``repeat_suppressed`` and ``feedback_dropped``.
    """

    kind = CredentialKind.EM4100

    def new_decoder(self) -> Decoder:
        """A fresh frame decoder."""
        return Decoder()

    def credential(self, item: Frame) -> str:
        """The ten upper-case hex characters of the frame (version byte and card id)."""
        return item.card
