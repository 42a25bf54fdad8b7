"""Every driver has the same shape (the hassfest idea): documented, closable when never opened,
and feedback to a closed link is dropped and counted, never raised."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import pytest

from device_drivers.base import Feedback, LinkDriver
from device_drivers.em4100 import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal import MqttTerminalConfig, MqttTerminalDriver

DRIVERS: dict[str, Callable[[], LinkDriver]] = {
    "em4100": lambda: Em4100Driver(Em4100Config("in-1", "/dev/does-not-exist")),
    "mqtt_terminal": lambda: MqttTerminalDriver(
        MqttTerminalConfig(school_id="s1", gateway_id="gw-1", terminal_ids=("canteen-1",), port=1)
    ),
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
    driver.feedback(driver.reader_ids[0], Feedback(True, "ok", ref="t1"))
    assert driver.stats.errors["feedback_dropped"] == 1 and driver.stats.feedback_sent == 0
    with pytest.raises(OSError):  # a missing port / absent broker: run() retries these
        await driver.open()
    await driver.close()
