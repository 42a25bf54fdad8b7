"""Every reader kind through a real gateway process: OSDP on a pty bus, Wiegand with its turnstile's
relay board, QR, each tap in the cloud once with its credential kind, each person told at the door."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from device_drivers.base import Direction
from mektep.processes import CloudProcess, GatewayProcess, free_port, write_site
from simulators.osdp_readers import OsdpReadersSim, ReaderSpec
from simulators.qr_scanner import QrScannerSim
from simulators.turnstile import TurnstileSim
from simulators.wiegand_converter import WiegandConverterSim

SCHOOL, GATEWAY = "kinds-school", "gw-kinds"
SCBK = secrets.token_bytes(16)


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[OsdpReadersSim, WiegandConverterSim, TurnstileSim, QrScannerSim]]:
    sims = (
        OsdpReadersSim(tmp_path / "ttyOSDP", [ReaderSpec(1, SCBK)]),
        WiegandConverterSim(tmp_path / "ttyWIEGAND"),
        TurnstileSim(tmp_path / "ttyRELAY"),
        QrScannerSim(tmp_path / "ttyQR"),
    )
    yield sims
    for sim in sims:
        sim.close()


def test_osdp_wiegand_relay_and_qr_through_a_gateway_process(
    tmp_path: Path, devices: tuple[OsdpReadersSim, WiegandConverterSim, TurnstileSim, QrScannerSim]
) -> None:
    osdp, wiegand, relay, qr = devices
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        terminals=[],
        mqtt_port=None,
        readers=[
            {"id": "t2-in", "framing": "wiegand", "port": str(wiegand.link), "direction": "entry", "relay": "t2-relay"},
            {"id": "t2-out", "framing": "qr", "port": str(qr.link), "direction": "exit", "relay": "t2-relay"},
        ],
        sections={
            "relays": [{"id": "t2-relay", "port": str(relay.link), "entry": "OPEN IN\r\n", "exit": "OPEN OUT\r\n"}],
            "osdp_buses": [
                {
                    "id": "bus-1",
                    "port": str(osdp.link),
                    "readers": [
                        {"id": "t1-in", "address": 1, "direction": "entry", "scbk": {"env": "MEKTEP_TEST_SCBK"}}
                    ],
                }
            ],
        },
    )
    env["MEKTEP_TEST_SCBK"] = SCBK.hex()
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    try:
        cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
        cloud.start_and_wait()
        gateway.start_and_wait()
        deadline = time.monotonic() + 20
        while not all(d["online"] for d in gateway.status()["drivers"]):  # type: ignore[index, union-attr]
            assert time.monotonic() < deadline, gateway.status()
            time.sleep(0.1)
        reader = osdp.reader(1)
        assert reader.wait(lambda r: r.secure, 10), "the OSDP reader has no secure channel"

        reader.present(0x2AF37BF, 26)
        assert reader.wait(lambda r: r.beep is not None, 5), "no answer at the door"
        assert reader.led is not None and reader.led.colour == "green"
        assert reader.outputs[0].on  # the entry output released the turnstile

        wiegand.present(123, 4567)
        assert relay.wait_pulses(1) == [Direction.ENTRY]
        qr.scan("SW-QR-0192f3c4")
        assert relay.wait_pulses(2) == [Direction.ENTRY, Direction.EXIT]

        today = datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
        deadline = time.monotonic() + 20
        while len(taps := [e for e in cloud.events(SCHOOL, today) if e["kind"] != "device_status"]) < 3:
            assert time.monotonic() < deadline, taps
            time.sleep(0.2)
        assert sorted((e["device_id"], e["kind"], e["credential_kind"], e["decision"]) for e in taps) == [
            ("t1-in", "entry", "osdp", "granted"),
            ("t2-in", "entry", "wiegand", "granted"),
            ("t2-out", "exit", "qr", "granted"),
        ]
        assert all("credential_hash" not in e for e in taps)  # the card number never shows, not even hashed
    finally:
        gateway.stop()
        cloud.stop()
