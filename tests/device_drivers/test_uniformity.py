"""Every driver has the same shape (the hassfest idea): documented, closable when never opened,
and feedback to a closed link is dropped and counted, never raised."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import pytest

from device_drivers.base import Direction, Feedback, LinkDriver
from device_drivers.em4100 import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal import MqttTerminalConfig, MqttTerminalDriver
from device_drivers.osdp import OsdpConfig, OsdpDriver, OsdpReader
from device_drivers.qr import QrConfig, QrDriver
from device_drivers.relay import RelayConfig, RelayDriver
from device_drivers.serial_line import SerialLineDriver
from device_drivers.wiegand import WiegandConfig, WiegandDriver
from gateway.site.devices import SERIAL_DRIVERS
from gateway.site.profiles import SerialFraming

DRIVERS: dict[str, Callable[[], LinkDriver]] = {
    "em4100": lambda: Em4100Driver(Em4100Config("in-1", "/dev/does-not-exist")),
    "mqtt_terminal": lambda: MqttTerminalDriver(
        MqttTerminalConfig(school_id="s1", gateway_id="gw-1", terminal_ids=("canteen-1",), port=1)
    ),
    "wiegand": lambda: WiegandDriver(WiegandConfig("in-1", "/dev/does-not-exist")),
    "qr": lambda: QrDriver(QrConfig("in-1", "/dev/does-not-exist")),
    "relay": lambda: RelayDriver(RelayConfig("relay-1", "/dev/does-not-exist")),
    "osdp": lambda: OsdpDriver(OsdpConfig("bus-1", "/dev/does-not-exist", (OsdpReader("in-1", 1, bytes(16)),))),
}


@pytest.mark.parametrize("name", sorted(DRIVERS))
async def test_driver_shape(name: str) -> None:
    driver = DRIVERS[name]()
    for module_name in (f"device_drivers.{name}.codec", f"device_drivers.{name}.driver"):
        module = importlib.import_module(module_name)
        assert module.__doc__ and module.__all__, module_name
        for public in module.__all__:
            obj = getattr(module, public)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert obj.__doc__, f"{module_name}.{public} has no docstring"
    assert not inspect.isabstract(type(driver))
    assert driver.link_id and driver.reader_ids and driver.online is None
    await driver.close()  # never opened: nothing to do
    await driver.close()
    driver.feedback(driver.reader_ids[0], Feedback(True, "ok", unlock=Direction.ENTRY, ref="t1"))
    assert driver.stats.errors["feedback_dropped"] == 1 and driver.stats.feedback_sent == 0
    with pytest.raises(OSError):  # a missing port / absent broker: run() retries these
        await driver.open()
    await driver.close()


SERIAL = ("em4100", "wiegand", "qr", "relay")


def test_serial_drivers_share_one_serial_base_and_every_framing_has_one() -> None:
    for name in SERIAL:
        driver = DRIVERS[name]()
        assert isinstance(driver, SerialLineDriver), name
        assert type(driver).read is SerialLineDriver.read and type(driver).close is SerialLineDriver.close, name
    for module_name in ("device_drivers.serial_line", "device_drivers.lines"):
        module = importlib.import_module(module_name)
        assert module.__doc__ and all(getattr(module, n).__doc__ for n in module.__all__), module_name
    assert set(SERIAL_DRIVERS) == set(SerialFraming)  # a framing a site file may name always has a driver
