"""Turnstile relay boards over serial: ``codec`` (the per-model ASCII strings, replies) and ``driver``."""

from device_drivers.relay.codec import RelayProtocol
from device_drivers.relay.driver import RelayConfig, RelayDriver

__all__ = ["RelayConfig", "RelayDriver", "RelayProtocol"]
