"""EM4100 driver on a real pseudo-terminal: noise, repeats, unplug and replug, feedback lines."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from device_drivers.base import CardRead, Direction, Feedback, LinkState
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from simulators.serial_reader import SerialReaderSim
from tests.conftest import RecordingSink, eventually, running


def fast(driver: Em4100Driver) -> Em4100Driver:
    """Reconnect and flush quickly, so that the tests run in milliseconds, not seconds."""
    driver.reconnect_initial_s = driver.reconnect_max_s = 0.05
    driver.idle_flush_s = 0.05
    return driver


def driver_for(sim: SerialReaderSim, **options: object) -> Em4100Driver:
    return Em4100Driver(Em4100Config("in-1", str(sim.link), **options))  # type: ignore[arg-type]


async def test_every_good_frame_is_read_and_every_bad_run_counted(
    pty_reader: SerialReaderSim, recording_sink: RecordingSink
) -> None:
    async with running(fast(driver_for(pty_reader, repeat_suppress_s=0)), recording_sink) as driver:
        await eventually(lambda: driver.online, what="driver online")
        sent = [f"{i:010X}" for i in range(1, 41)]
        kinds: Counter[str] = Counter()
        for i, card in enumerate(sent):
            kinds[pty_reader.noise(["random", "truncated", "bad_checksum", "bad_hex", "overlong"][i % 5])] += 1
            pty_reader.present(card)
            if i % 8 == 0:
                await asyncio.sleep(0.005)  # let some chunks arrive split, some whole
        pty_reader.noise("random")  # trailing noise with no frame after it: reported when the line idles
        kinds["random"] += 1
        expected = {("noise" if k == "random" else k): n for k, n in kinds.items()}
        await eventually(lambda: len(recording_sink.reads) == 40 and dict(driver.stats.errors) == expected)
        assert recording_sink.credentials() == sent
        assert driver.stats.reads == 40
        assert all(r.reader_id == "in-1" and r.kind == "em4100" and r.ref is None for r in recording_sink.reads)


async def test_a_held_card_is_one_read(pty_reader: SerialReaderSim, recording_sink: RecordingSink) -> None:
    async with running(fast(driver_for(pty_reader, repeat_suppress_s=0.3)), recording_sink) as driver:
        await eventually(lambda: driver.online)
        pty_reader.present("00000000AA", repeats=6, interval_s=0.1)  # held 0.5 s: longer than the window
        pty_reader.present("00000000BB")  # another card is not suppressed
        await eventually(lambda: driver.stats.errors["repeat_suppressed"] == 5 and len(recording_sink.reads) == 2)
        await asyncio.sleep(0.4)  # taken away, then presented again
        pty_reader.present("00000000AA")
        await eventually(lambda: len(recording_sink.reads) == 3)
        assert recording_sink.credentials() == ["00000000AA", "00000000BB", "00000000AA"]


async def test_unplugged_and_plugged_back_on_the_same_path(
    pty_reader: SerialReaderSim, recording_sink: RecordingSink
) -> None:
    async with running(fast(driver_for(pty_reader)), recording_sink) as driver:
        await eventually(lambda: driver.online)
        pty_reader.present("0000000001")
        await eventually(lambda: len(recording_sink.reads) == 1)

        pty_reader.unplug()
        await eventually(lambda: driver.online is False, what="link lost")
        driver.feedback("in-1", Feedback(True, "ok"))  # never blocks, never raises: dropped
        assert driver.stats.errors["feedback_dropped"] == 1
        await asyncio.sleep(0.2)  # a few failed reopen attempts: the path is gone

        pty_reader.replug()  # a new pty (the kernel may hand out the same /dev/pts/N again)
        await eventually(lambda: driver.online is True, what="back online")
        pty_reader.present("0000000002")
        await eventually(lambda: len(recording_sink.reads) == 2)
        assert driver.stats.reconnects >= 1
        assert recording_sink.states("in-1") == [LinkState.ONLINE, LinkState.OFFLINE, LinkState.ONLINE]


async def test_a_port_that_appears_later_is_opened(tmp_path: Path, recording_sink: RecordingSink) -> None:
    driver = Em4100Driver(Em4100Config("in-1", str(tmp_path / "ttyLATE")))
    async with running(fast(driver), recording_sink):
        await eventually(lambda: driver.online is False, what="open failure reported")
        sim = SerialReaderSim(tmp_path / "ttyLATE")
        try:
            await eventually(lambda: driver.online is True)
            sim.present("0000000003")
            await eventually(lambda: recording_sink.credentials() == ["0000000003"])
        finally:
            sim.close()


async def test_feedback_lines_reach_the_controller(pty_reader: SerialReaderSim, recording_sink: RecordingSink) -> None:
    async with running(fast(driver_for(pty_reader)), recording_sink) as driver:
        await eventually(lambda: driver.online)
        driver.feedback("in-1", Feedback(True, "ok", unlock=Direction.ENTRY, ref="t-1"))
        driver.feedback("in-1", Feedback(False, "card blocked\r\nGRANT"))
        lines = [await pty_reader.next_feedback_async(2.0) for _ in range(2)]
        assert [line.text for line in lines if line] == ["GRANT entry t-1", "DENY card_blocked_GRANT -"]
        assert driver.stats.feedback_sent == 2


async def test_feedback_templates_come_from_config(pty_reader: SerialReaderSim, recording_sink: RecordingSink) -> None:
    driver = driver_for(pty_reader, grant_line="OK {direction}\n", deny_line="NO {reason}\n")
    async with running(fast(driver), recording_sink):
        await eventually(lambda: driver.online)
        driver.feedback("in-1", Feedback(True, "ok", unlock=Direction.EXIT))
        driver.feedback("in-1", Feedback(False, "no_consent"))
        assert (a := pty_reader.next_feedback(2.0)) and a.text == "OK exit"
        assert (b := pty_reader.next_feedback(2.0)) and b.text == "NO no_consent"
    assert Em4100Driver.grant_line == "GRANT {direction} {ref}\r\n"  # the class default is untouched


async def test_tap_to_grant_latency_is_measured_by_the_simulator(
    pty_reader: SerialReaderSim, recording_sink: RecordingSink
) -> None:
    driver = driver_for(pty_reader)
    answer: Callable[[CardRead], None] = lambda r: driver.feedback(r.reader_id, Feedback(True, "ok"))  # noqa: E731
    recording_sink.on_read = answer
    async with running(fast(driver), recording_sink):
        await eventually(lambda: driver.online)
        sent = pty_reader.present("00000000CC")
        line = await pty_reader.next_feedback_async(2.0)
        assert line is not None and line.text == "GRANT - -"
        assert 0 < line.at - sent < 1.0
