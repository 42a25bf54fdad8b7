"""A reader's answer reaches its own driver; a grant also opens the relay board its turnstile hangs on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from device_drivers.base import Direction, Feedback, LinkDriver, ReadSink
from gateway.app import Gateway
from gateway.site.config import parse_site
from gateway.site.devices import build_devices
from gateway.site.profiles import load_profiles
from gateway.taps.policy import AccessPoint, Place
from simulators.qr_scanner import QrScannerSim
from simulators.turnstile import TurnstileSim
from simulators.wiegand_converter import WiegandConverterSim
from tests.conftest import MakeSim, eventually, fast

PROFILES = Path(__file__).resolve().parents[2] / "firmware_configs" / "profiles"


class Recorder(LinkDriver):
    def __init__(self, *ids: str) -> None:
        super().__init__()
        self.link_id, self.reader_ids = ids[0], ids
        self.got: list[tuple[str, Feedback]] = []

    async def open(self) -> None: ...

    async def read(self, sink: ReadSink) -> None: ...

    async def close(self) -> None: ...

    def feedback(self, reader_id: str, feedback: Feedback) -> None:
        self.got.append((reader_id, feedback))


def test_grant_opens_the_relay_and_deny_does_not(tmp_path: Path) -> None:
    site = parse_site(
        f"""
school: {{id: s1, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path}}}
cloud: {{url: "http://127.0.0.1:9"}}
"""
    )
    reader, relay, other = Recorder("in-1"), Recorder("relay-1"), Recorder("in-2")
    gateway = Gateway(
        site,
        key=b"k",
        credential_key=b"c",
        drivers=[reader, relay, other],
        points={"in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)},
        releases={"in-1": "relay-1"},
    )
    grant = Feedback(True, "no_roster", "Welcome", unlock=Direction.ENTRY)
    deny = Feedback(False, "card_blocked", "Denied")
    gateway._route_feedback("in-1", grant)
    gateway._route_feedback("in-1", deny)
    gateway._route_feedback("in-2", grant)  # a reader without a relay: nothing else moves
    assert reader.got == [("in-1", grant), ("in-1", deny)]
    assert relay.got == [("relay-1", grant)]
    assert other.got == [("in-2", grant)]


async def test_the_relay_board_opens_for_the_readers_it_serves_over_real_lines(
    tmp_path: Path, pty_devices: MakeSim
) -> None:
    entry = pty_devices(WiegandConverterSim, "ttyIN")
    exit_ = pty_devices(QrScannerSim, "ttyOUT")
    alone = pty_devices(WiegandConverterSim, "ttyALONE")  # a reader without a relay board
    turnstile = pty_devices(TurnstileSim, "ttyRELAY")  # the committed profile's strings are its defaults
    site = parse_site(
        f"""
school: {{id: s1, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path / "gw"}}}
cloud: {{url: "http://127.0.0.1:9", retry_max_s: 5}}
readers:
  - {{id: in-1, model: wiegand-serial-converter, port: {entry.link}, direction: entry, relay: gate-1}}
  - {{id: out-1, model: qr-serial-scanner, port: {exit_.link}, direction: exit, relay: gate-1}}
  - {{id: in-2, model: wiegand-serial-converter, port: {alone.link}, direction: entry}}
relays:
  - {{id: gate-1, model: ascii-relay-board, port: {turnstile.link}}}
""",
        profiles=load_profiles(PROFILES),
    )
    devices = build_devices(site)
    gateway = Gateway(
        site,
        key=b"k",
        credential_key=b"c",
        drivers=[fast(d) for d in devices.drivers],
        points=devices.points,
        releases=devices.releases,
        ui_port=-1,
    )
    task = asyncio.create_task(gateway.run())
    try:
        await eventually(lambda: all(d.online for d in gateway.drivers), what="every line open")
        entry.present(18, 54919)
        assert await asyncio.to_thread(turnstile.wait_pulses, 1) == [Direction.ENTRY]
        line = await entry.next_feedback_async(2.0)
        assert line is not None and line.text.startswith("GRANT entry")  # the reader's own controller too
        exit_.scan("SW1:0123456789abcdef:0badf00d")
        assert await asyncio.to_thread(turnstile.wait_pulses, 2) == [Direction.ENTRY, Direction.EXIT]
        alone.present(1, 1)
        assert await alone.next_feedback_async(2.0) is not None  # granted at its reader...
        await asyncio.sleep(0.2)
        assert len(turnstile.pulses) == 2  # ...and no other turnstile opened
        relay = next(d for d in gateway.drivers if d.link_id == "gate-1")
        await eventually(lambda: getattr(relay, "acks", 0) == 2, what="the board's acks")
        events = await gateway._latest(10)
        kinds = {(e["device_id"], e["kind"]): e.get("credential_kind") for e in events if e["kind"] != "device_status"}
        assert kinds == {("in-1", "entry"): "wiegand", ("out-1", "exit"): "qr", ("in-2", "entry"): "wiegand"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
