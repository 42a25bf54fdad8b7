"""`mektep sim …` commands end to end: each plays against a real driver and prints the answers."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from device_drivers.base import Direction, Feedback, LinkDriver
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from device_drivers.osdp.driver import OsdpConfig, OsdpDriver, OsdpReader
from device_drivers.qr import QrConfig, QrDriver
from device_drivers.relay import RelayConfig, RelayDriver
from device_drivers.wiegand import WiegandConfig, WiegandDriver
from simulators.broker import Broker
from simulators.cli import app
from tests.conftest import RecordingSink, eventually

runner = CliRunner()


def answering(driver: LinkDriver) -> RecordingSink:
    sink = RecordingSink()
    sink.on_read = lambda r: driver.feedback(r.reader_id, Feedback(True, "ok", display="Welcome", ref=r.ref))
    return sink


async def invoke_beside(
    driver: LinkDriver, args: list[str], *, online_first: bool = False, sink: RecordingSink | None = None
) -> str:
    """Run the command in a thread while ``driver`` answers on this loop (into ``sink``, if given)."""
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05
    task = asyncio.create_task(driver.run(sink or answering(driver)))
    try:
        if online_first:
            await eventually(lambda: driver.online)
        result = await asyncio.to_thread(runner.invoke, app, args)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert result.exit_code == 0, result.output
    return result.output


async def test_serial_reader_command(tmp_path: Path) -> None:
    link = tmp_path / "ttyCLI"
    driver = Em4100Driver(Em4100Config("in-1", str(link)))
    output = await invoke_beside(
        driver, ["serial-reader", "--link", str(link), "--cards", "3", "--rate", "50", "--noise", "--wait", "0.3"]
    )
    assert f"reader on {link} -> /dev/pts/" in output
    assert output.count("GRANT - -") == 3 and " ms)" in output
    assert driver.stats.reads == 3 and sum(driver.stats.errors.values()) == 3


async def test_osdp_readers_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = tmp_path / "ttyOSDP"
    key = "8f3a5c1e0b7d4a6f92e1c3b5d7f90a2c"
    monkeypatch.setenv("SIM_SCBK", key)
    readers = tuple(OsdpReader(f"in-{a}", a, bytes.fromhex(key)) for a in (5, 6, 7))
    driver = OsdpDriver(OsdpConfig("bus-1", str(link), readers))
    args = ["osdp-readers", "--link", str(link), "--readers", "3", "--first-address", "5", "--scbk-env", "SIM_SCBK"]
    output = await invoke_beside(driver, [*args, "--cards", "6", "--rate", "50", "--seed", "3"])
    assert f"bus on {link} -> /dev/pts/" in output and "readers 5, 6, 7; SCBK from SIM_SCBK" in output
    assert [line.split(":")[0] for line in output.splitlines()[1:]] == [f"reader {a}" for a in (5, 6, 7, 5, 6, 7)]
    assert output.count("-> green LED, 1 beep(s)  (") == 6 and " ms)" in output
    assert driver.stats.reads == 6


@pytest.mark.mosquitto
async def test_canteen_terminal_command(mosquitto_broker: Broker) -> None:
    driver = MqttTerminalDriver(
        MqttTerminalConfig(school_id="s1", gateway_id="gw-1", terminal_ids=("canteen-1",), port=mosquitto_broker.port)
    )
    args = ["canteen-terminal", "--port", str(mosquitto_broker.port), "--school", "s1", "--device", "canteen-1"]
    # online first: on a fresh broker, a tap published before the gateway's first subscription has no taker
    output = await invoke_beside(driver, [*args, "--taps", "3", "--rate", "50"], online_first=True)
    assert output.count("ok granted=True ok 'Welcome'") == 3
    assert driver.stats.reads == 3


def test_broker_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["broker", "--seconds", "0.2", "--workdir", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "broker listening on 127.0.0.1:" in result.output


def test_every_command_has_an_example() -> None:
    for command in app.registered_commands:
        assert command.callback is not None and "Example:" in (command.callback.__doc__ or ""), command.name


async def test_wiegand_converter_command(tmp_path: Path) -> None:
    link = tmp_path / "ttyWIEGAND"
    driver = WiegandDriver(WiegandConfig("in-1", str(link)))
    args = ["wiegand-converter", "--link", str(link), "--cards", "3", "--rate", "50", "--noise", "--wait", "0.3"]
    sink = answering(driver)
    output = await invoke_beside(driver, [*args, "--format", "hex", "--bits", "34"], sink=sink)
    assert f"converter on {link} -> /dev/pts/" in output
    assert output.count("GRANT - -") == 3 and " ms)" in output
    read = sink.credentials()
    assert len(read) == 3 and all(re.fullmatch(r"\d{5}:\d{5}", c) for c in read)  # 34 bits: FFFFF:NNNNN
    assert all(f"{credential}: GRANT" in output for credential in read)  # as the gateway read it
    assert sum(driver.stats.errors.values()) == 3


async def test_qr_scanner_command(tmp_path: Path) -> None:
    link = tmp_path / "ttyQR"
    driver = QrDriver(QrConfig("out-1", str(link)))
    args = ["qr-scanner", "--link", str(link), "--codes", "3", "--rate", "50", "--noise", "--wait", "0.3"]
    output = await invoke_beside(driver, args)
    assert output.count("GRANT - -") == 3 and output.count("SW1:") == 3
    assert driver.stats.reads == 3 and sum(driver.stats.errors.values()) == 3


async def test_turnstile_command(tmp_path: Path) -> None:
    link = tmp_path / "ttyRELAY"
    driver = RelayDriver(RelayConfig("gate-1", str(link)))
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05
    task = asyncio.create_task(driver.run(RecordingSink()))
    command = asyncio.create_task(
        asyncio.to_thread(runner.invoke, app, ["turnstile", "--link", str(link), "--seconds", "1.5"])
    )
    try:
        await eventually(lambda: driver.online, what="relay online")
        driver.feedback("gate-1", Feedback(True, "ok", unlock=Direction.ENTRY))
        driver.feedback("gate-1", Feedback(True, "ok", unlock=Direction.EXIT))
        await eventually(lambda: driver.acks == 2)
        result = await command
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert result.exit_code == 0, result.output
    assert f"turnstile on {link} -> /dev/pts/" in result.output
    assert "entry: 'OPEN IN'\nexit: 'OPEN OUT'\n" in result.output
