"""QR scanner on a real pseudo-terminal: codes read with kind qr, garbage counted, continuous mode one read."""

from __future__ import annotations

import asyncio
from collections import Counter

from device_drivers.qr.driver import QrConfig, QrDriver
from simulators.qr_scanner import NOISE_KINDS, QrScannerSim, random_code
from tests.conftest import MakeSim, RecordingSink, eventually, fast, running


async def test_codes_are_read_with_kind_qr_and_garbage_counted(
    pty_devices: MakeSim, recording_sink: RecordingSink
) -> None:
    sim = pty_devices(QrScannerSim, "ttyQR", seed=2)
    driver = fast(QrDriver(QrConfig("out-qr", str(sim.link), repeat_suppress_s=0)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online, what="driver online")
        sent = [random_code(sim.rng) for _ in range(6)] + ["4870000123456", "Мектеп-7А"]  # a printed EAN, Cyrillic
        noise: Counter[str] = Counter()
        for code in sent:
            noise[sim.noise()] += 1
            sim.scan(code)
        sim.write(b"SW1:cut-short")  # the scanner stops mid-line: counted once the line is quiet
        await asyncio.sleep(0.2)
        await eventually(lambda: len(recording_sink.reads) == len(sent) and driver.stats.errors["truncated"] == 1)
        assert recording_sink.credentials() == sent
        assert all(r.reader_id == "out-qr" and r.kind == "qr" for r in recording_sink.reads)
        assert dict(driver.stats.errors) == {**noise, "truncated": 1}
        assert set(noise) <= set(NOISE_KINDS)


async def test_a_phone_held_in_front_of_a_scanner_is_one_read(
    pty_devices: MakeSim, recording_sink: RecordingSink
) -> None:
    sim = pty_devices(QrScannerSim, "ttyQR")
    driver = fast(QrDriver(QrConfig("out-qr", str(sim.link), repeat_suppress_s=0.3, max_length=64)))
    async with running(driver, recording_sink):
        await eventually(lambda: driver.online)
        sim.scan("SW1:aaaa", repeats=5, interval_s=0.1)  # continuous mode, held 0.4 s
        sim.scan("x" * 65)  # longer than this scanner's profile allows
        await eventually(lambda: driver.stats.errors["repeat_suppressed"] == 4 and driver.stats.errors["overlong"] == 1)
        assert recording_sink.credentials() == ["SW1:aaaa"]
