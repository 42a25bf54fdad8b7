"""Relay board on a real pseudo-terminal: the model's strings per direction, acks, errors and silence."""

from __future__ import annotations

import asyncio

from device_drivers.base import Direction, Feedback, LinkState
from device_drivers.relay import RelayConfig, RelayDriver, RelayProtocol
from simulators.turnstile import TurnstileSim
from tests.conftest import MakeSim, RecordingSink, eventually, fast, running

ENTRY = Feedback(True, "no_roster", unlock=Direction.ENTRY)
EXIT = Feedback(True, "no_roster", unlock=Direction.EXIT)


async def test_each_direction_sends_its_models_string(pty_devices: MakeSim, recording_sink: RecordingSink) -> None:
    protocol = RelayProtocol(entry="R1 PULSE 500\r", exit="R2 PULSE 500\r", ack="DONE", error_prefix="FAIL")
    sim = pty_devices(TurnstileSim, "ttyRELAY", entry="R1 PULSE 500", exit="R2 PULSE 500", ack="DONE")
    driver = fast(RelayDriver(RelayConfig("relay-1", str(sim.link), protocol=protocol)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online)
        driver.feedback("relay-1", ENTRY)
        driver.feedback("relay-1", Feedback(False, "card_blocked"))  # a denial opens nothing
        driver.feedback("relay-1", Feedback(True, "served"))  # nor a grant without a direction
        driver.feedback("relay-1", EXIT)
        assert sim.wait_pulses(2) == [Direction.ENTRY, Direction.EXIT]
        await eventually(lambda: driver.acks == 2)
        assert [p.text for p in sim.pulses] == ["R1 PULSE 500", "R2 PULSE 500"]
        assert driver.pulses == {Direction.ENTRY: 1, Direction.EXIT: 1} and driver.stats.feedback_sent == 2
        assert not driver.stats.errors
    assert recording_sink.states("relay-1") == [LinkState.ONLINE, LinkState.OFFLINE]


async def test_a_jammed_turnstile_is_counted_and_reported_once(
    pty_devices: MakeSim, recording_sink: RecordingSink
) -> None:
    sim = pty_devices(TurnstileSim, "ttyRELAY")
    driver = fast(RelayDriver(RelayConfig("relay-1", str(sim.link))))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online)
        sim.jammed = True
        for _ in range(3):
            driver.feedback("relay-1", ENTRY)
        await eventually(lambda: driver.stats.errors["relay_error"] == 3)
        sim.jammed = False
        driver.feedback("relay-1", EXIT)
        await eventually(lambda: driver.acks == 1)
        assert recording_sink.states("relay-1") == [LinkState.ONLINE, LinkState.ERROR, LinkState.ONLINE]
        assert "jammed" in recording_sink.status[1].detail


async def test_a_board_that_does_not_answer_is_counted(pty_devices: MakeSim, recording_sink: RecordingSink) -> None:
    sim = pty_devices(TurnstileSim, "ttyRELAY", ack=None)  # a mute board
    driver = fast(RelayDriver(RelayConfig("relay-1", str(sim.link), ack_timeout_s=0.1)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online)
        driver.feedback("relay-1", ENTRY)
        driver.feedback("relay-1", ENTRY)
        assert sim.wait_pulses(2) == [Direction.ENTRY, Direction.ENTRY]  # the turnstile did open
        await eventually(lambda: driver.stats.errors["no_ack"] == 2)
        assert recording_sink.states("relay-1") == [LinkState.ONLINE, LinkState.ERROR]
    never_answers = RelayProtocol(ack=None)
    quiet = fast(RelayDriver(RelayConfig("relay-2", str(sim.link), protocol=never_answers, ack_timeout_s=0.1)))
    async with running(quiet, recording_sink):  # a model whose profile says it never answers
        await eventually(lambda: quiet.online)
        quiet.feedback("relay-2", EXIT)
        assert sim.wait_pulses(3)[-1] is Direction.EXIT
        await asyncio.sleep(0.3)  # well past the ack timeout: nothing was awaited, nothing is missing
        assert quiet.stats.feedback_sent == 1 and not quiet.stats.errors
