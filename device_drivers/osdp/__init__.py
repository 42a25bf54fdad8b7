"""OSDP v2 readers on RS-485, libosdp as the control panel: ``codec`` (sans-IO), ``panel`` (libosdp), ``driver``."""

from device_drivers.osdp.driver import OsdpConfig, OsdpDriver, OsdpReader

__all__ = ["OsdpConfig", "OsdpDriver", "OsdpReader"]
