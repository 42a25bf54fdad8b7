"""EM4100: the codec on any byte stream, and the driver on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from device_drivers.base import CardRead, Feedback, StatusChange
from device_drivers.em4100.codec import Decoder, Frame, FrameError, FrameProblem, encode_frame
from device_drivers.em4100.driver import Em4100Config, Em4100Driver
from simulators.serial_reader import SerialReaderSim

cards = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())
noise = st.binary(max_size=20).map(lambda b: b.replace(b"\x02", b""))


@given(st.lists(st.tuples(noise, cards), max_size=10), st.integers(1, 20))
def test_every_frame_survives_noise_and_any_chunking(items: list[tuple[bytes, str]], chunk: int) -> None:
    stream = b"".join(n + encode_frame(c) for n, c in items)
    decoder = Decoder()
    out = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
    assert [o.card for o in out if isinstance(o, Frame)] == [c for _, c in items]


def test_each_kind_of_garbage_is_named() -> None:
    good = encode_frame("0A1B2C3D4E")
    bad_sum = good[:11] + b"00" + good[13:]
    out = Decoder().feed(b"\xff\xfe" + good[:6] + good + bad_sum + b"\x02" + b"Z" * 12 + b"\x03" + b"\x02" + b"1" * 13)
    problems = [o.problem for o in out if isinstance(o, FrameError)]
    assert problems == [FrameProblem.NOISE, FrameProblem.TRUNCATED, FrameProblem.BAD_CHECKSUM,
                        FrameProblem.BAD_HEX, FrameProblem.OVERLONG]  # fmt: skip
    assert [o.card for o in out if isinstance(o, Frame)] == ["0A1B2C3D4E"]


class Sink:
    def __init__(self) -> None:
        self.reads: list[CardRead] = []
        self.status: list[StatusChange] = []

    def card_read(self, read: CardRead) -> None:
        self.reads.append(read)

    def status_changed(self, change: StatusChange) -> None:
        self.status.append(change)


async def until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_driver_on_a_pty_reads_through_noise_and_survives_unplug(tmp_path: Path) -> None:
    sim = SerialReaderSim(tmp_path / "ttyREADER", seed=7)
    driver = Em4100Driver(Em4100Config("in-1", str(sim.link), repeat_suppress_s=0.5))
    driver.reconnect_initial_s = 0.05
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    await until(lambda: driver.online)
    sent = [f"{i:010X}" for i in range(1, 21)]
    kinds = []
    for card in sent:
        kinds.append(sim.noise())
        sim.present(card)
        await asyncio.sleep(0.005)
    await until(lambda: len(sink.reads) == 20)
    await until(lambda: sum(driver.stats.errors.values()) >= 20, timeout_s=3)
    assert [r.credential for r in sink.reads] == sent
    assert sum(v for k, v in driver.stats.errors.items() if k != "repeat_suppressed") == 20
    # a card held on the reader repeats its frame: one read
    sim.present("FFFFFFFFFF", repeats=4)
    await until(lambda: len(sink.reads) == 21)
    await asyncio.sleep(0.1)
    assert len(sink.reads) == 21 and driver.stats.errors["repeat_suppressed"] == 3
    # feedback reaches the controller on the same line
    driver.feedback("in-1", Feedback(True, "no_roster"))
    assert (line := await asyncio.to_thread(sim.next_feedback, 2.0)) and line.text == "GRANT - -"
    # unplugged, then plugged back on the same path: reading resumes without a restart
    sim.unplug()
    await until(lambda: not driver.online)
    sim.replug()
    await until(lambda: driver.online)
    sim.present("ABCDEF0123")
    await until(lambda: len(sink.reads) == 22)
    assert [s.state.value for s in sink.status] == ["online", "offline", "online"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    sim.close()
