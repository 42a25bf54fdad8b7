"""A tap reaches the cloud exactly once: real processes, real pty, real Mosquitto, real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mektep.processes import CloudProcess, GatewayProcess, free_port, write_site
from simulators.broker import Broker, start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.serial_reader import SerialReaderSim
from tests.conftest import mosquitto_path, need

SCHOOL, GATEWAY = "e2e-school", "gw-e2e"


@dataclass
class Site:
    cloud: CloudProcess
    gateway: GatewayProcess
    reader: SerialReaderSim
    broker: Broker
    terminal: CanteenTerminalSim

    def cloud_events(self) -> list[dict[str, object]]:
        today = datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
        return [e for e in self.cloud.events(SCHOOL, today) if e["kind"] != "device_status"]

    def wait_delivered(self, n: int, timeout_s: float = 30) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = self.cloud_events()
            if len(events) >= n:
                return events
            time.sleep(0.2)
        return self.cloud_events()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    need(mosquitto_path() is not None, "mosquitto is not installed (apt-get install mosquitto)")
    broker = start_broker(workdir=tmp_path / "broker")
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    reader = SerialReaderSim(tmp_path / "ttyIN", seed=1)
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        readers=[
            {"id": "in-1", "framing": "em4100", "port": str(reader.link), "direction": "entry", "repeat_suppress_s": 0}
        ],
        terminals=["canteen-1"],
        mqtt_port=broker.port,
        retry_max_s=0.5,
    )
    cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
    cloud.start_and_wait()
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    gateway.start_and_wait()
    terminal = CanteenTerminalSim("127.0.0.1", broker.port, school=SCHOOL, device="canteen-1")
    terminal.wait_connected()
    yield Site(cloud, gateway, reader, broker, terminal)
    terminal.close()
    gateway.stop()
    cloud.stop()
    broker.stop()
    reader.close()


def wait_online(site: Site) -> None:
    for _ in range(100):
        status = site.gateway.status()
        if all(d["online"] for d in status["drivers"]):  # type: ignore[index, union-attr]
            return
        time.sleep(0.05)
    raise AssertionError(f"drivers not online: {site.gateway.status()}")


def test_taps_arrive_once_each_in_sequence_order(site: Site) -> None:
    wait_online(site)
    for i in range(30):
        site.reader.present(f"{i:010X}")
        assert (line := site.reader.next_feedback(5)) is not None and line.text.startswith("GRANT entry")
    tap_ids = [site.terminal.tap(f"CARD{i}") for i in range(10)]
    for tap_id in tap_ids:
        fb = site.terminal.wait_feedback(lambda m, t=tap_id: m.get("tap_id") == t)
        assert fb is not None and fb["granted"] and fb["display"] == "Ас болсын"
    events = site.wait_delivered(40)
    assert len(events) == 40 and len({e["id"] for e in events}) == 40
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    assert sorted(e["kind"] for e in events) == ["entry"] * 30 + ["meal"] * 10


def test_cloud_down_for_the_whole_burst(site: Site) -> None:
    wait_online(site)
    site.cloud.stop()
    for i in range(50):
        site.reader.present(f"{i:010X}")
        assert site.reader.next_feedback(5) is not None  # the gateway decides offline
    assert site.gateway.status()["outbox"]["pending"] >= 50  # type: ignore[index]
    site.cloud.start_and_wait()
    events = site.wait_delivered(50)
    assert len(events) == 50 and len({e["id"] for e in events}) == 50


def test_gateway_killed_mid_burst_loses_no_granted_tap(site: Site) -> None:
    wait_online(site)
    granted = 0
    for i in range(60):
        if i == 30:
            site.gateway.kill()  # SIGKILL: a power cut, no clean-up
        try:
            site.reader.present(f"{i:010X}")
        except OSError:
            break
        line = site.reader.next_feedback(0.5 if i >= 30 else 5)
        if line is not None and line.text.startswith("GRANT"):
            granted += 1
    assert granted >= 30
    site.gateway.start_and_wait()
    events = site.wait_delivered(granted)
    assert len({e["id"] for e in events}) == len(events)
    assert len(events) >= granted  # every granted tap is there, none twice


def test_malformed_mqtt_payloads_are_counted_and_answered(site: Site) -> None:
    wait_online(site)
    for payload in [b"not json", b"[1, 2]", b'{"tap_id": "x1"}', b'{"tap_id": "x2", "credential": 5}', b"{" * 5000]:
        site.terminal.publish_raw(payload)
    errors = site.terminal.wait_feedback(lambda m: m.get("tap_id") == "x2")
    assert errors is not None and errors["status"] == "error" and errors["reason"] == "bad_field:credential"
    tap_id = site.terminal.tap("GOODCARD")  # the connection is kept
    assert site.terminal.wait_feedback(lambda m: m.get("tap_id") == tap_id) is not None
    time.sleep(0.3)
    mqtt = next(d for d in site.gateway.status()["drivers"] if d["link"].endswith("mqtt"))  # type: ignore[union-attr]
    assert mqtt["errors"] == {"not_json": 1, "not_object": 1, "missing_field": 1, "bad_field": 1, "too_large": 1}
    assert len([f for f in site.terminal.feedback if f["status"] == "error"]) == 5


def test_broker_restart_loses_no_tap(site: Site) -> None:
    wait_online(site)
    sent = [site.terminal.tap(f"CARD{i}") for i in range(10)]
    site.broker.restart()
    sent += [site.terminal.tap(f"LATE{i}") for i in range(10)]  # queued by paho until reconnected
    events = site.wait_delivered(20, timeout_s=40)
    assert len([e for e in events if e["kind"] == "meal"]) == 20
