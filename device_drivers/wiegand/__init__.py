"""Wiegand 26/34 bit readers through a serial converter: ``codec`` (sans-IO lines, parity) and ``driver``."""

from device_drivers.wiegand.driver import WiegandConfig, WiegandDriver

__all__ = ["WiegandConfig", "WiegandDriver"]
