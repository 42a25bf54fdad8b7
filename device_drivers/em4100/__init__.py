"""EM4100 / RDM6300 readers on a serial line: ``codec`` (sans-IO frames) and ``driver`` (pyserial, asyncio)."""

from device_drivers.em4100.driver import Em4100Config, Em4100Driver

__all__ = ["Em4100Config", "Em4100Driver"]
