"""OSDP driver against libosdp readers on a real pty: secure channel, feedback, tamper, unplug, eight readers.

Both sides are real libosdp: the driver's ControlPanel and the simulator's PeripheralDevices,
talking OSDP with the secure channel through a pseudo-terminal that plays the RS-485 bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from osdp import CardFormat, Event

from device_drivers.base import CardRead, Direction, Feedback, LinkState
from device_drivers.osdp.driver import OsdpConfig, OsdpDriver, OsdpReader
from simulators.osdp_readers import OsdpReadersSim, ReaderSpec
from tests.conftest import RecordingSink, eventually, running

KEY = bytes.fromhex("8f3a5c1e0b7d4a6f92e1c3b5d7f90a2c")
OTHER_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
CARD = 0x2AF37BF  # 26 bits


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Callable[..., OsdpReadersSim]]:
    """Make a simulated bus on ``tmp_path/ttyOSDP``; closed afterwards."""
    made: list[OsdpReadersSim] = []

    def make(*specs: ReaderSpec) -> OsdpReadersSim:
        sim = OsdpReadersSim(tmp_path / "ttyOSDP", specs)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def driver_for(sim: OsdpReadersSim, *readers: OsdpReader) -> OsdpDriver:
    driver = OsdpDriver(OsdpConfig("bus-1", str(sim.link), readers))
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05  # tests run in milliseconds, not seconds
    driver.offline_retry_s = 0.2
    return driver


def answering(driver: OsdpDriver, decide: Callable[[CardRead], Feedback]) -> RecordingSink:
    """A sink that answers every read through ``driver.feedback``, as the gateway's pipeline does."""
    sink = RecordingSink()
    sink.on_read = lambda read: driver.feedback(read.reader_id, decide(read))
    return sink


def online(driver: OsdpDriver, *reader_ids: str) -> Callable[[], bool]:
    return lambda: all(driver.reader_state.get(r) is LinkState.ONLINE for r in reader_ids)


async def test_a_card_gives_the_grant_led_and_the_entry_output_pulse(bus: Callable[..., OsdpReadersSim]) -> None:
    sim = bus(ReaderSpec(1, KEY))
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY))
    sink = answering(driver, lambda r: Feedback(True, "no_roster", unlock=Direction.ENTRY))
    reader = sim.reader(1)
    async with running(driver, sink):
        await eventually(online(driver, "in-1"), 10, "reader online")
        assert reader.secure  # the reader sees the secure channel too
        reader.present(CARD, 26)
        await eventually(lambda: reader.beep is not None, 5, "grant shown")
    assert [(r.reader_id, r.credential, r.kind) for r in sink.reads] == [("in-1", "26:2AF37BF", "osdp")]
    assert reader.led is not None and reader.led.colour == "green" and reader.led.timer_ms == 1500
    assert reader.outputs[0].on and reader.outputs[0].pulse_ms == 3000  # entry releases output 0
    assert 1 not in reader.outputs
    assert reader.beep.repeats == 1 and reader.beep.on_ms == 100
    assert driver.stats.reads == 1 and driver.stats.feedback_sent == 1 and not driver.stats.errors
    assert [(s.device_id, s.state) for s in sink.status][:2] == [("bus-1", "online"), ("in-1", "online")]


async def test_a_denial_is_red_with_two_long_beeps_and_opens_nothing(bus: Callable[..., OsdpReadersSim]) -> None:
    sim = bus(ReaderSpec(1, KEY))
    driver = driver_for(sim, OsdpReader("out-1", 1, KEY))
    sink = answering(driver, lambda r: Feedback(False, "card_blocked"))
    reader = sim.reader(1)
    async with running(driver, sink):
        await eventually(online(driver, "out-1"), 10)
        reader.present(0x1234, 26)
        await eventually(lambda: reader.beep is not None, 5)
    assert reader.led is not None and reader.led.colour == "red"
    assert reader.beep.repeats == 2 and reader.beep.on_ms >= 400
    assert reader.outputs == {}


async def test_a_wrong_key_gives_no_secure_channel_the_reader_offline_and_no_card(
    bus: Callable[..., OsdpReadersSim],
) -> None:
    sim = bus(ReaderSpec(1, KEY), ReaderSpec(2, OTHER_KEY))  # reader 2 was set up with another key
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY), OsdpReader("in-2", 2, KEY))
    sink = answering(driver, lambda r: Feedback(True, "ok", unlock=Direction.ENTRY))
    good, bad = sim.reader(1), sim.reader(2)
    async with running(driver, sink):
        await eventually(lambda: driver.reader_state.get("in-2") is LinkState.OFFLINE, 10, "in-2 reported offline")
        await eventually(online(driver, "in-1"), 10)
        bad.present(0x111, 26)  # queued first: had the panel taken it, it would arrive first
        good.present(0x222, 26)
        await eventually(lambda: good.beep is not None, 5)
        await asyncio.sleep(3 * driver.offline_retry_s)  # the panel tries the bad reader again meanwhile
    assert sink.credentials() == ["26:0000222"]
    assert not bad.secure and bad.led is None and bad.outputs == {}
    assert LinkState.ONLINE not in sink.states("in-2")


async def test_the_pty_closed_and_reopened_brings_the_reader_back(bus: Callable[..., OsdpReadersSim]) -> None:
    sim = bus(ReaderSpec(1, KEY))
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY))
    sink = answering(driver, lambda r: Feedback(True, "ok", unlock=Direction.ENTRY))
    reader = sim.reader(1)
    async with running(driver, sink):
        await eventually(online(driver, "in-1"), 10)
        reader.present(1, 26)
        await eventually(lambda: len(sink.reads) == 1, 5)

        sim.unplug()
        await eventually(lambda: driver.online is False and driver.reader_state["in-1"] is LinkState.OFFLINE, 5)
        driver.feedback("in-1", Feedback(True, "ok"))  # never blocks, never raises: dropped
        assert driver.stats.errors["feedback_dropped"] == 1

        sim.plug()
        await eventually(online(driver, "in-1"), 10, "reader back online")
        reader.present(2, 26)
        await eventually(lambda: len(sink.reads) == 2 and reader.leds_seen == 2, 5)
    assert sink.credentials() == ["26:0000001", "26:0000002"]
    assert driver.stats.reconnects >= 1
    # ... and offline again when the driver stops
    assert sink.states("in-1") == [LinkState.ONLINE, LinkState.OFFLINE, LinkState.ONLINE, LinkState.OFFLINE]
    assert sink.states("bus-1") == [LinkState.ONLINE, LinkState.OFFLINE, LinkState.ONLINE, LinkState.OFFLINE]


async def test_a_reader_swapped_for_one_with_the_right_key_is_taken_within_seconds(
    bus: Callable[..., OsdpReadersSim],
) -> None:
    # libosdp alone waits 300 s before it tries an offline reader again; the driver retries sooner.
    sim = bus(ReaderSpec(1, KEY), ReaderSpec(2, OTHER_KEY))
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY), OsdpReader("in-2", 2, KEY))
    sink = answering(driver, lambda r: Feedback(True, "ok"))
    async with running(driver, sink):
        await eventually(lambda: driver.reader_state.get("in-2") is LinkState.OFFLINE, 10, "in-2 offline")
        await eventually(online(driver, "in-1"), 10)
        sim.remove(2)
        reader = sim.add(ReaderSpec(2, KEY))  # the right reader fitted, on the same address
        await eventually(online(driver, "in-2"), 5, "in-2 online")
        reader.present(5, 26)
        await eventually(lambda: sink.credentials() == ["26:0000005"] and reader.led is not None, 5)
    assert sink.states("in-2")[:2] == [LinkState.OFFLINE, LinkState.ONLINE]
    assert driver.stats.reconnects == 0  # the bus stayed up throughout


async def test_eight_readers_on_one_bus_all_work_at_once(bus: Callable[..., OsdpReadersSim]) -> None:
    keys = [bytes([i]) * 16 for i in range(1, 9)]  # a key per reader
    sim = bus(*(ReaderSpec(10 + i, key) for i, key in enumerate(keys)))
    driver = driver_for(sim, *(OsdpReader(f"gate-{i}", 10 + i, key) for i, key in enumerate(keys)))
    sink = answering(
        driver,
        lambda r: Feedback(True, "ok", unlock=Direction.EXIT if r.reader_id.endswith(("1", "3")) else Direction.ENTRY),
    )
    async with running(driver, sink):
        await eventually(online(driver, *driver.reader_ids), 10, "eight readers online")
        for i in range(8):  # every reader has a card before the panel polls any of them
            sim.reader(10 + i).present(0x100 + i, 26)
        await eventually(lambda: all(r.beep is not None for r in sim.readers.values()), 5, "eight grants shown")
    assert sorted((r.reader_id, r.credential) for r in sink.reads) == [
        (f"gate-{i}", f"26:{0x100 + i:07X}") for i in range(8)
    ]
    assert all(r.led is not None and r.led.colour == "green" for r in sim.readers.values())
    assert sorted(n for r in sim.readers.values() for n in r.outputs) == [0, 0, 0, 0, 0, 0, 1, 1]
    assert driver.stats.feedback_sent == 8


async def test_tamper_raised_and_cleared_are_status_events(bus: Callable[..., OsdpReadersSim]) -> None:
    sim = bus(ReaderSpec(1, KEY), ReaderSpec(2, KEY))
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY), OsdpReader("in-2", 2, KEY))
    sink = RecordingSink()
    async with running(driver, sink):
        await eventually(online(driver, "in-1", "in-2"), 10)
        sim.reader(2).tamper()
        await eventually(lambda: driver.reader_state["in-2"] is LinkState.ERROR, 5, "tamper reported")
        sim.reader(2).tamper(False)
        await eventually(lambda: driver.reader_state["in-2"] is LinkState.ONLINE, 5, "tamper cleared")
    tamper = [s for s in sink.status if s.device_id == "in-2" and s.state is LinkState.ERROR]
    assert [s.detail for s in tamper] == ["tamper"]
    assert LinkState.ERROR not in sink.states("in-1")


async def test_install_mode_gives_a_fresh_reader_our_key(
    bus: Callable[..., OsdpReadersSim], caplog: pytest.LogCaptureFixture
) -> None:
    sim = bus(ReaderSpec(1, None))  # factory fresh: knows only the default key
    with caplog.at_level(logging.WARNING):
        installer = driver_for(sim, OsdpReader("in-1", 1, KEY, install_mode=True))
    assert "in-1" in caplog.text and "install mode" in caplog.text
    async with running(installer, RecordingSink()):
        await eventually(online(installer, "in-1"), 10, "installed")
        await eventually(lambda: sim.reader(1).secure, 5)
    # From now on the reader takes our key, with the secure channel enforced.
    production = driver_for(sim, OsdpReader("in-1", 1, KEY))
    sink = RecordingSink()
    async with running(production, sink):
        await eventually(online(production, "in-1"), 10, "online with our key")
        sim.reader(1).present(3, 26)
        await eventually(lambda: sink.credentials() == ["26:0000003"], 5)


async def test_unreadable_cards_and_garbage_are_counted_and_the_bus_goes_on(
    bus: Callable[..., OsdpReadersSim],
) -> None:
    sim = bus(ReaderSpec(1, KEY))
    driver = driver_for(sim, OsdpReader("in-1", 1, KEY))
    sink = RecordingSink()
    reader = sim.reader(1)
    async with running(driver, sink):
        await eventually(online(driver, "in-1"), 10)
        no_bits = {
            "event": Event.CardRead,
            "reader_no": 0,
            "format": CardFormat.Wiegand,
            "direction": 0,
            "length": 0,
            "data": b"\x00",
        }
        reader.present_event(no_bits)
        await eventually(lambda: driver.stats.errors["card_bad_length"] == 1, 5)
        for _ in range(20):  # line noise, and packets for an address nobody has
            sim.noise(bytes(range(256)))
            sim.noise(bytes.fromhex("53ff0800") + b"\xee" * 4)
        reader.present(4, 26)
        await eventually(lambda: sink.credentials() == ["26:0000004"], 5)
        assert driver.reader_state["in-1"] is LinkState.ONLINE and driver.online
