"""Every serial driver: unplug its adapter and plug it back, and it is online again without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from device_drivers.base import Direction, Feedback, LinkState
from device_drivers.qr import QrConfig, QrDriver
from device_drivers.relay import RelayConfig, RelayDriver
from device_drivers.serial_line import SerialLineDriver
from device_drivers.wiegand import WiegandConfig, WiegandDriver
from simulators.qr_scanner import QrScannerSim
from simulators.serial_device import SerialDeviceSim
from simulators.turnstile import TurnstileSim
from simulators.wiegand_converter import WiegandConverterSim
from tests.conftest import MakeSim, RecordingSink, eventually, fast, running


@dataclass(frozen=True)
class Case:
    sim: type[SerialDeviceSim]
    driver: Callable[[str], SerialLineDriver[object]]
    use: Callable[[SerialDeviceSim, SerialLineDriver[object], int], None]  # the device does its job, n-th time
    done: Callable[[SerialDeviceSim, SerialLineDriver[object], RecordingSink], int]  # how many jobs got through


def _wiegand(sim: SerialDeviceSim, _: SerialLineDriver[object], n: int) -> None:
    assert isinstance(sim, WiegandConverterSim)
    sim.present(1, n)


def _qr(sim: SerialDeviceSim, _: SerialLineDriver[object], n: int) -> None:
    assert isinstance(sim, QrScannerSim)
    sim.scan(f"SW1:{n}")


def _relay(_: SerialDeviceSim, driver: SerialLineDriver[object], n: int) -> None:
    driver.feedback(driver.link_id, Feedback(True, "ok", unlock=Direction.ENTRY))


def _reads(_: SerialDeviceSim, __: SerialLineDriver[object], sink: RecordingSink) -> int:
    return len(sink.reads)


def _pulses(sim: SerialDeviceSim, _: SerialLineDriver[object], __: RecordingSink) -> int:
    assert isinstance(sim, TurnstileSim)
    return len(sim.pulses)


CASES = {
    "wiegand": Case(WiegandConverterSim, lambda port: WiegandDriver(WiegandConfig("dev-1", port)), _wiegand, _reads),
    "qr": Case(QrScannerSim, lambda port: QrDriver(QrConfig("dev-1", port)), _qr, _reads),
    "relay": Case(TurnstileSim, lambda port: RelayDriver(RelayConfig("dev-1", port)), _relay, _pulses),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_unplugged_and_plugged_back_on_the_same_path(
    name: str, pty_devices: MakeSim, recording_sink: RecordingSink
) -> None:
    case = CASES[name]
    sim = pty_devices(case.sim, "ttyDEV")
    driver = fast(case.driver(str(sim.link)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online, what="online")
        case.use(sim, driver, 1)
        await eventually(lambda: case.done(sim, driver, recording_sink) == 1)

        sim.unplug()
        await eventually(lambda: driver.online is False, what="link lost")
        driver.feedback("dev-1", Feedback(True, "ok", unlock=Direction.EXIT))  # never blocks, never raises
        assert driver.stats.errors["feedback_dropped"] == 1
        await asyncio.sleep(0.2)  # a few failed reopen attempts: the path is gone

        sim.replug()
        await eventually(lambda: driver.online is True, what="back online")
        case.use(sim, driver, 2)
        await eventually(lambda: case.done(sim, driver, recording_sink) == 2)
        assert driver.stats.reconnects >= 1
        assert recording_sink.states("dev-1") == [LinkState.ONLINE, LinkState.OFFLINE, LinkState.ONLINE]
