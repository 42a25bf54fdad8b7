"""The explicit driver registry: site file → drivers and access points. No imported strings.

Every value here is already resolved: a device's profile (``model:``) was merged into its site
entry when the site file was loaded, so a driver gets plain, typed settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from device_drivers.base import LinkDriver
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from device_drivers.osdp.codec import ReaderSignals
from device_drivers.osdp.driver import OsdpConfig, OsdpDriver, OsdpReader
from device_drivers.qr.driver import QrConfig, QrDriver
from device_drivers.relay.driver import RelayConfig, RelayDriver, RelayProtocol
from device_drivers.wiegand.driver import WiegandConfig, WiegandDriver
from gateway.site.config import OsdpBusConfig, ReaderConfig, RelayBoardConfig, SerialFraming, SiteConfig
from gateway.taps.policy import AccessPoint, Place

__all__ = ["SERIAL_DRIVERS", "Devices", "build_devices"]


class Devices(NamedTuple):
    """A site's drivers, the access points the policy sees, and which relay each reader releases."""

    drivers: list[LinkDriver]
    points: dict[str, AccessPoint]
    releases: dict[str, str]  # reader id -> relay id


def _line(device: ReaderConfig | RelayBoardConfig) -> dict[str, Any]:
    return {
        "reader_id": device.id,
        "port": device.port,
        "baud": device.baud,
        "bytesize": device.bytesize,
        "parity": device.parity,
        "stopbits": device.stopbits,
    }


def _reader(reader: ReaderConfig) -> dict[str, Any]:
    return {
        **_line(reader),
        "repeat_suppress_s": reader.repeat_suppress_s,
        "grant_line": reader.grant_line,
        "deny_line": reader.deny_line,
    }


# One entry per serial framing; a new reader protocol is one more line here (a new model of a
# known protocol is only a profile in firmware_configs/profiles/).
SERIAL_DRIVERS: dict[SerialFraming, Callable[[ReaderConfig], LinkDriver]] = {
    SerialFraming.EM4100: lambda r: Em4100Driver(Em4100Config(**_reader(r))),
    SerialFraming.WIEGAND: lambda r: WiegandDriver(WiegandConfig(**_reader(r))),
    SerialFraming.QR: lambda r: QrDriver(QrConfig(**_reader(r), max_length=r.max_length)),
}


def _relay_driver(board: RelayBoardConfig) -> LinkDriver:
    # One driver for every relay board: the models differ only in their profile's strings.
    assert board.entry is not None and board.exit is not None  # the site model refuses a board without them
    protocol = RelayProtocol(board.entry, board.exit, board.ack, board.error_prefix)
    return RelayDriver(RelayConfig(**_line(board), protocol=protocol, ack_timeout_s=board.ack_timeout_s))


def _serial_driver(reader: ReaderConfig) -> LinkDriver:
    assert reader.framing is not None  # the site model refuses a reader without one
    return SERIAL_DRIVERS[reader.framing](reader)


def _osdp(bus: OsdpBusConfig) -> LinkDriver:
    readers = tuple(
        OsdpReader(
            r.id,
            r.address,
            r.resolve_scbk(),
            r.install_mode,
            ReaderSignals(r.led_ms, r.pulse_ms, r.entry_output, r.exit_output),
        )
        for r in bus.readers
    )
    return OsdpDriver(OsdpConfig(bus.id, bus.port, readers, bus.baud))


def build_devices(site: SiteConfig) -> Devices:
    """The drivers of a site, the access points the policy sees and the relay each reader opens."""
    drivers = [_serial_driver(r) for r in site.readers]
    drivers += [_relay_driver(b) for b in site.relays]
    points = {r.id: AccessPoint(r.id, Place.TURNSTILE, r.direction) for r in site.readers}
    drivers += [_osdp(bus) for bus in site.osdp_buses]
    points.update({r.id: AccessPoint(r.id, Place.TURNSTILE, r.direction) for b in site.osdp_buses for r in b.readers})
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
    releases = {r.id: r.relay for r in site.readers if r.relay is not None}
    return Devices(drivers, points, releases)
