"""The pty behind a stable path: bytes pass both ways raw, unplug hangs up, replug re-points the link."""

from __future__ import annotations

import os
import select
from pathlib import Path

import pytest

from device_drivers.em4100.codec import Decoder, Frame, FrameError, FrameProblem
from simulators.pty_pair import PtyPair
from simulators.serial_reader import NOISE_KINDS, SerialReaderSim


def read_available(fd: int, timeout_s: float = 1.0) -> bytes:
    data = b""
    while select.select([fd], [], [], timeout_s)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        timeout_s = 0.01
    return data


def test_bytes_pass_raw_both_ways_and_unplug_hangs_up(tmp_path: Path) -> None:
    pty = PtyPair(tmp_path / "ttyX")
    try:
        assert pty.link.is_symlink() and os.readlink(pty.link) == pty.slave_path
        fd = os.open(pty.link, os.O_RDWR | os.O_NOCTTY)
        every_byte = bytes(range(256))  # raw mode: no echo, no CR/LF translation, no signals
        pty.write(every_byte)
        assert read_available(fd) == every_byte
        os.write(fd, b"GRANT - -\r\n")
        assert pty.master is not None and read_available(pty.master) == b"GRANT - -\r\n"

        pty.unplug()
        assert not pty.link.is_symlink()  # gone, as udev removes /dev/serial/by-id/... links
        with pytest.raises(OSError):  # EIO, as when a USB adapter is pulled (or EOF, then EIO)
            if os.read(fd, 10) == b"":
                raise OSError("end of file")
        os.close(fd)
        with pytest.raises(OSError):
            pty.write(b"x")

        first = pty.slave_path
        assert pty.plug() and os.readlink(pty.link) == pty.slave_path
        fd = os.open(pty.link, os.O_RDWR | os.O_NOCTTY)
        pty.write(b"again")
        assert read_available(fd) == b"again"
        os.close(fd)
        assert first  # (the kernel may reuse the same /dev/pts number)
    finally:
        pty.close()
    assert not pty.link.exists() and not pty.link.is_symlink()


def test_each_noise_kind_is_what_the_codec_calls_it(tmp_path: Path) -> None:
    sim = SerialReaderSim(tmp_path / "ttyN", seed=3)
    fd = os.open(sim.link, os.O_RDWR | os.O_NOCTTY)
    try:
        for kind in NOISE_KINDS * 4:
            assert sim.noise(kind) == kind
            sim.present("0123456789")
            out = Decoder().feed(read_available(fd))
            assert [o.card for o in out if isinstance(o, Frame)] == ["0123456789"]
            expected = FrameProblem.NOISE if kind == "random" else FrameProblem(kind)
            assert [o.problem for o in out if isinstance(o, FrameError)] == [expected]
        with pytest.raises(ValueError):
            sim.noise("static")
    finally:
        os.close(fd)
        sim.close()


def test_feedback_lines_are_timestamped_and_repeats_written(tmp_path: Path) -> None:
    sim = SerialReaderSim(tmp_path / "ttyF")
    fd = os.open(sim.link, os.O_RDWR | os.O_NOCTTY)
    try:
        sent = sim.present("00000000AB", repeats=3)
        assert len(read_available(fd)) == 3 * 14
        os.write(fd, b"GRANT entry -\r\nDENY no_consent -\r\n")
        first, second = sim.next_feedback(2.0), sim.next_feedback(2.0)
        assert first is not None and first.text == "GRANT entry -" and first.at > sent
        assert second is not None and second.text == "DENY no_consent -"
        assert sim.next_feedback(0.05) is None and sim.drain() == []
        assert sim.sent_at["00000000AB"] == sent
    finally:
        os.close(fd)
        sim.close()
