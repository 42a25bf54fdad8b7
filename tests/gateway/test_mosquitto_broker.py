"""The broker `mektep config mosquitto` generates, run for real: who may connect, publish and read what."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from device_drivers.base import CardRead, Feedback, LinkState
from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver
from mektep.cli import app
from simulators.broker import MosquittoBroker, free_port
from simulators.canteen_terminal import CanteenTerminalSim
from tests.conftest import MOSQUITTO_MISSING, RecordingSink, eventually, mosquitto_path, need, running

pytestmark = pytest.mark.mosquitto

SCHOOL, GATEWAY, GW_USER = "school-17", "gw-17", "gw-17-mqtt"
A, B = "canteen-a", "canteen-b"
NOT_AUTHORISED = 135  # MQTT 5 reason code, in CONNACK and PUBACK


def t(device: str, leaf: str) -> str:
    return f"mektep/{SCHOOL}/{device}/{leaf}"


@dataclass
class School:
    """The generated broker, running, and the passwords its site file refers to."""

    broker: MosquittoBroker
    passwords: dict[str, str]
    out: Path


@contextlib.contextmanager
def school_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **mqtt: object) -> Iterator[School]:
    """Write a site file, run `mektep config mosquitto` on it and start mosquitto on what it wrote."""
    binary = mosquitto_path()
    need(binary is not None, MOSQUITTO_MISSING)
    assert binary is not None
    passwords = {name: secrets.token_urlsafe(24) for name in (GW_USER, A, B)}
    passwords[B] = f"пароль: {passwords[B]}"  # any text: the file holds only its hash
    monkeypatch.setenv("MQTT_GATEWAY_PASSWORD", passwords[GW_USER])
    for name in (A, B):
        (tmp_path / f"{name}.secret").write_text(passwords[name] + "\n")
    port = free_port()
    site = {
        "school": {"id": SCHOOL, "name": "School No. 17"},
        "gateway": {"id": GATEWAY, "key": {"env": "K"}, "credential_key": {"env": "C"}},
        "cloud": {"url": "http://127.0.0.1:8000"},
        "mqtt": {"port": port, "username": GW_USER, "password": {"env": "MQTT_GATEWAY_PASSWORD"}, **mqtt},
        "terminals": [{"id": name, "password": {"file": str(tmp_path / f"{name}.secret")}} for name in (A, B)],
    }
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True))
    out = tmp_path / "broker"
    # Run as root, mosquitto would drop to "mosquitto", which cannot enter pytest's private tmp_path.
    user = "root" if os.geteuid() == 0 else "mosquitto"
    options = ["--out", str(out), "--bind", "127.0.0.1", "--user", user]
    result = CliRunner().invoke(app, ["config", "mosquitto", str(tmp_path / "site.yaml"), *options])
    assert result.exit_code == 0, result.output
    broker = MosquittoBroker(binary, out, port, config=out / "mosquitto.conf")
    broker.start()
    try:
        yield School(broker, passwords, out)
    finally:
        broker.stop()


@pytest.fixture
def school(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[School]:
    """The generated broker of a school with a gateway and terminals A and B, running."""
    with school_broker(tmp_path, monkeypatch) as running_school:
        yield running_school


class Probe:
    """A paho-mqtt 2 client that records its CONNACK, every PUBACK's reason and every message."""

    def __init__(
        self,
        school: School,
        user: str | None,
        password: str | None = None,
        *,
        client_id: str = "",
        protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
        clean: bool = True,
        tls_port: int | None = None,
        ca: Path | None = None,
    ) -> None:
        self.cond = threading.Condition()
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.subacks = 0
        self.disconnected = threading.Event()
        options = {"clean_session": clean} if protocol != mqtt.MQTTv5 else {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id, protocol=protocol, reconnect_on_failure=False, **options
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.connect(school.broker.host, tls_port or school.broker.port)
        self.client.loop_start()
        self.wait_until(lambda: self.connack is not None, "CONNACK")

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        with self.cond:
            self.connack = reason
            self.cond.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self.cond:
            self.pubacks[mid] = reason
            self.cond.notify_all()

    def _on_subscribe(self, *_: object) -> None:
        with self.cond:
            self.subacks += 1
            self.cond.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((message.topic, bytes(message.payload)))
            self.cond.notify_all()

    def wait_until(self, done: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
        """Wait until ``done()`` holds (checked on every callback); fail the test after ``timeout_s``."""
        with self.cond:
            assert self.cond.wait_for(done, timeout_s), f"no {what} within {timeout_s} s"

    @property
    def refused(self) -> bool:
        return self.connack is not None and self.connack.is_failure

    def subscribe(self, *topics: str) -> None:
        before = self.subacks
        self.client.subscribe([(name, 1) for name in topics])
        self.wait_until(lambda: self.subacks > before, "SUBACK")

    def publish(self, name: str, payload: bytes) -> bool:
        """Publish at QoS 1: True if the PUBACK accepts it, False if it says "Not authorized" (MQTT 5).

        Under MQTT 3.1.1 the broker acknowledges a refused publish like any other and drops it.
        """
        mid = self.client.publish(name, payload, qos=1).mid
        self.wait_until(lambda: mid in self.pubacks, f"PUBACK of {name}")
        reason = self.pubacks[mid]
        assert not reason.is_failure or reason.value == NOT_AUTHORISED, reason
        return not reason.is_failure

    def wait_for(self, name: str, payload: bytes, timeout_s: float = 5.0) -> None:
        self.wait_until(lambda: (name, payload) in self.messages, f"{payload!r} on {name}", timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def probes(school: School) -> Iterator[dict[str, Probe]]:
    """The gateway (subscribed as the driver does) and terminals A and B, each with its own password."""
    made = {name: Probe(school, name, school.passwords[name]) for name in (GW_USER, A, B)}
    made[GW_USER].subscribe(t("+", "tap"), t("+", "status"))
    made[A].subscribe(t(A, "feedback"))
    made[B].subscribe(t(B, "feedback"))
    yield made
    for probe in made.values():
        probe.close()


def test_a_terminal_publishes_only_its_own_tap_and_status(probes: dict[str, Probe]) -> None:
    gateway, a = probes[GW_USER], probes[A]
    forbidden = [
        t(B, "tap"),
        t(B, "status"),
        t(B, "feedback"),
        t(A, "feedback"),
        t("gateway", "x"),
        f"mektep/{SCHOOL}/gateway/{GATEWAY}/status",
        "mektep/other-school/canteen-a/tap",
    ]
    for name in forbidden:
        assert not a.publish(name, b"spoof"), name
    assert a.publish(t(A, "status"), b"online")
    assert a.publish(t(A, "tap"), b"own")
    gateway.wait_for(t(A, "tap"), b"own")
    gateway.wait_for(t(A, "status"), b"online")
    # A's own tap went after the spoofs on the same connection: had one passed, it would be here.
    assert all(payload != b"spoof" for _, payload in gateway.messages + probes[B].messages)


def test_a_terminal_reads_only_its_own_feedback(probes: dict[str, Probe]) -> None:
    gateway, a, b = probes[GW_USER], probes[A], probes[B]
    a.subscribe(t(B, "feedback"), t("+", "feedback"), t("+", "tap"), "#")  # granted, yet delivers only A's own
    assert gateway.publish(t(B, "feedback"), b"for B")
    b.wait_for(t(B, "feedback"), b"for B")
    assert b.publish(t(B, "tap"), b"B taps")
    gateway.wait_for(t(B, "tap"), b"B taps")
    assert gateway.publish(t(A, "feedback"), b"for A")
    a.wait_for(t(A, "feedback"), b"for A")  # sent last: whatever A could get from before is in by now
    # (one copy per matching subscription: MQTT 5 allows overlapping subscriptions to each deliver)
    assert {payload for _, payload in a.messages} == {b"for A"}


def test_the_gateway_gets_what_it_needs_and_no_more(probes: dict[str, Probe]) -> None:
    gateway = probes[GW_USER]
    assert gateway.publish(f"mektep/{SCHOOL}/gateway/{GATEWAY}/status", b"online")
    for name in [t(A, "tap"), t(A, "status"), f"mektep/{SCHOOL}/gateway/other-gw/status", "mektep/other/x/feedback"]:
        assert not gateway.publish(name, b"x"), name


@pytest.mark.parametrize(
    ("user", "password"),
    [("intruder", "guess"), (A, "wrong"), (A, "password of B"), (None, None)],
    ids=["unknown user", "wrong password", "another terminal's password", "anonymous"],
)
def test_unknown_users_wrong_passwords_and_anonymous_clients_are_refused(
    school: School, user: str | None, password: str | None
) -> None:
    if password == "password of B":
        password = school.passwords[B]
    for protocol in (mqtt.MQTTv5, mqtt.MQTTv311):
        probe = Probe(school, user, password, protocol=protocol)
        try:
            assert probe.refused and probe.connack is not None
            assert probe.connack.getName() == "Not authorized", protocol
            assert probe.disconnected.wait(5)
        finally:
            probe.close()


def test_a_terminal_cannot_take_over_the_gateways_session_by_its_client_id(school: School) -> None:
    gateway = Probe(school, GW_USER, school.passwords[GW_USER], client_id=f"{GATEWAY}-gateway")
    gateway.subscribe(t("+", "tap"))
    try:
        for stolen in (f"{GATEWAY}-gateway", GW_USER):  # the id it asked for, and the one the broker gave it
            impostor = Probe(school, A, school.passwords[A], client_id=stolen)
            assert not impostor.refused
            assert impostor.publish(t(A, "tap"), stolen.encode())
            gateway.wait_for(t(A, "tap"), stolen.encode())  # a gateway thrown off would not see it
            impostor.close()
        assert not gateway.disconnected.is_set()
    finally:
        gateway.close()


def test_taps_for_an_absent_gateway_outlast_the_default_queue_and_a_broker_restart(school: School) -> None:
    gateway = Probe(school, GW_USER, school.passwords[GW_USER], client_id="gw", protocol=mqtt.MQTTv311, clean=False)
    gateway.subscribe(t("+", "tap"))
    gateway.close()  # away, its session kept: what follows is queued for it
    terminal = Probe(school, A, school.passwords[A], protocol=mqtt.MQTTv311)
    sent = [f"tap-{i}".encode() for i in range(1500)]  # mosquitto's default limit is 1000 a client
    for payload in sent:
        terminal.client.publish(t(A, "tap"), payload, qos=1)
    terminal.wait_until(lambda: len(terminal.pubacks) == len(sent), "every PUBACK", 20)
    terminal.close()
    school.broker.restart()  # the queue is saved on the way down and read back

    back = Probe(school, GW_USER, school.passwords[GW_USER], client_id="gw", protocol=mqtt.MQTTv311, clean=False)
    try:
        back.wait_for(t(A, "tap"), sent[-1], timeout_s=20)
        assert [payload for _, payload in back.messages] == sent
    finally:
        back.close()


async def test_the_gateway_driver_and_a_terminal_work_end_to_end(school: School) -> None:
    config = MqttTerminalConfig(
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        terminal_ids=(A, B),
        host=school.broker.host,
        port=school.broker.port,
        username=GW_USER,
        password=school.passwords[GW_USER],
        keepalive_s=5,
    )
    driver = MqttTerminalDriver(config)
    sink = RecordingSink()

    def grant(read: CardRead) -> None:
        driver.feedback(read.reader_id, Feedback(True, "free_meal", display="Ас болсын", ref=read.ref))

    sink.on_read = grant
    terminal = CanteenTerminalSim(
        school.broker.host, school.broker.port, school=SCHOOL, device=A, username=A, password=school.passwords[A]
    )
    try:
        async with running(driver, sink):
            await eventually(lambda: driver.online, what="the gateway connected")
            await asyncio.to_thread(terminal.wait_connected)
            await eventually(lambda: sink.states(A) == [LinkState.ONLINE], what="the terminal's status read")
            terminal.publish_raw(b'{"tap_id": "spoof", "credential": "X"}', device=B)  # 3.1.1: dropped silently
            tap_id = terminal.tap("CARD-17")
            answer = await asyncio.to_thread(terminal.wait_feedback_for, tap_id, 5.0)
            assert answer is not None and answer["granted"] and answer["display"] == "Ас болсын"
            assert [(r.reader_id, r.ref) for r in sink.reads] == [(A, tap_id)]
    finally:
        terminal.close()


def test_it_listens_only_on_the_site_files_port(school: School) -> None:
    log = (school.out / "stderr.log").read_text()  # mosquitto logs to stderr; the launcher keeps it here
    assert set(re.findall(r"listen socket on port (\d+)", log)) == {str(school.broker.port)}


def test_terminals_log_in_over_tls_when_the_site_file_gives_a_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openssl = shutil.which("openssl")
    need(openssl is not None, "openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "broker.crt", tmp_path / "broker.key"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls_port = free_port()
    tls = {"port": tls_port, "certfile": str(cert), "keyfile": str(key)}
    with school_broker(tmp_path, monkeypatch, tls=tls) as school:
        gateway = Probe(school, GW_USER, school.passwords[GW_USER])  # on the plain listener
        gateway.subscribe(t("+", "tap"))
        terminal = Probe(school, A, school.passwords[A], tls_port=tls_port, ca=cert)
        anonymous = Probe(school, None, tls_port=tls_port, ca=cert)
        try:
            assert not terminal.refused and anonymous.refused
            assert terminal.publish(t(A, "tap"), b"over TLS")
            assert not terminal.publish(t(B, "tap"), b"spoof over TLS")
            gateway.wait_for(t(A, "tap"), b"over TLS")
        finally:
            for probe in (gateway, terminal, anonymous):
                probe.close()
