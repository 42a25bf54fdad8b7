"""The explicit driver registry: site file → drivers and access points. No imported strings."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from device_drivers.base import LinkDriver
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from gateway.config import ReaderConfig, SerialFraming, SiteConfig
from gateway.policy import AccessPoint, Place

__all__ = ["SERIAL_DRIVERS", "Devices", "build_devices"]


class Devices(NamedTuple):
    """A site's drivers, the access points the policy sees, and which relay each reader releases."""

    drivers: list[LinkDriver]
    points: dict[str, AccessPoint]
    releases: dict[str, str]  # reader id -> relay id


def _em4100(reader: ReaderConfig) -> LinkDriver:
    return Em4100Driver(Em4100Config(reader.id, reader.port, reader.baud, reader.repeat_suppress_s))


# One entry per serial framing; a new reader protocol is one more line here.
SERIAL_DRIVERS: dict[SerialFraming, Callable[[ReaderConfig], LinkDriver]] = {SerialFraming.EM4100: _em4100}


def build_devices(site: SiteConfig) -> Devices:
    """The drivers of a site and the access points the policy sees."""
    drivers = [SERIAL_DRIVERS[r.framing](r) for r in site.readers]
    points = {r.id: AccessPoint(r.id, Place.TURNSTILE, r.direction) for r in site.readers}
    if site.terminals and site.mqtt is not None:
        m = site.mqtt
        drivers.append(
            MqttTerminalDriver(
                MqttTerminalConfig(
                    school_id=site.school.id,
                    gateway_id=site.gateway.id,
                    terminal_ids=tuple(t.id for t in site.terminals),
                    host=m.host,
                    port=m.port,
                    username=m.username,
                    password=m.password.resolve() if m.password else None,
                    client_id=m.client_id,
                    keepalive_s=m.keepalive_s,
                )
            )
        )
        points.update({t.id: AccessPoint(t.id, Place.CANTEEN) for t in site.terminals})
    return Devices(drivers, points, releases={})
