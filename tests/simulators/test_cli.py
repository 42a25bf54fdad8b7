"""`mektep sim …` commands end to end: each plays against a real driver and prints the answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from device_drivers.base import Feedback, LinkDriver
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from simulators.broker import Broker
from simulators.cli import app
from tests.conftest import RecordingSink, eventually

runner = CliRunner()


def answering(driver: LinkDriver) -> RecordingSink:
    sink = RecordingSink()
    sink.on_read = lambda r: driver.feedback(r.reader_id, Feedback(True, "ok", display="Welcome", ref=r.ref))
    return sink


async def invoke_beside(driver: LinkDriver, args: list[str], *, online_first: bool = False) -> str:
    """Run the command in a thread while ``driver`` answers on this loop."""
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05
    task = asyncio.create_task(driver.run(answering(driver)))
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
