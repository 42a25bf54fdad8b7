"""Wiegand converter on a real pseudo-terminal: good frames read with facility and card, bad ones counted."""

from __future__ import annotations

from collections import Counter

from device_drivers.wiegand.driver import WiegandConfig, WiegandDriver
from simulators.wiegand_converter import NOISE_KINDS, WiegandConverterSim
from tests.conftest import MakeSim, RecordingSink, eventually, fast, running


async def test_good_frames_are_read_and_bad_ones_refused_and_counted(
    pty_devices: MakeSim, recording_sink: RecordingSink
) -> None:
    sim = pty_devices(WiegandConverterSim, "ttyW", fmt="bits", seed=4)
    driver = fast(WiegandDriver(WiegandConfig("in-w", str(sim.link), repeat_suppress_s=0)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online, what="driver online")
        sim.present(18, 54919)
        noise = Counter(sim.noise(kind) for kind in NOISE_KINDS * 3)
        sim.fmt = "hex"  # a converter set to the other format reads the same
        sim.present(18, 54919, bits=26)
        sim.present(513, 7, bits=34)
        sim.write(b"W26 10001001011010110100001110\r\n")  # 018:54919 with its odd parity bit flipped
        await eventually(lambda: len(recording_sink.reads) == 3 and sum(driver.stats.errors.values()) == 13)
        assert recording_sink.credentials() == ["018:54919", "018:54919", "00513:00007"]
        assert all(r.reader_id == "in-w" and r.kind == "wiegand" for r in recording_sink.reads)
        assert dict(driver.stats.errors) == {**noise, "bad_parity": noise["bad_parity"] + 1}
        assert driver.stats.reads == 3
