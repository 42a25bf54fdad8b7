"""A canteen tap survives a crash of the broker or of the gateway: every tap a terminal sent is answered,
and the cloud holds exactly one event for it, never "already served" for the child's own meal.

Real processes throughout: Mosquitto started from the very files ``mektep config mosquitto``
generates for the site (users, ACL, persistence saved on a timer), the cloud, the gateway, and a
terminal that keeps the terminals' contract (a tap without an answer is sent again, same ``tap_id``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from cloud_api.db.engine import make_engine
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from mektep.processes import CloudProcess, GatewayProcess, free_port, mqtt_password_env, write_site
from shared.localtime import LOCAL_TZ
from simulators.broker import MosquittoBroker, start_site_broker
from simulators.canteen_terminal import CanteenTerminalSim
from tests.cloud_api.school import HEADER, give_cards, iin, people_by_iin, serve_lunch_today
from tests.conftest import MOSQUITTO_MISSING, mosquitto_path, need

SCHOOL, GATEWAY, TILL = "fault-school", "gw-fault", "till-1"
PUPILS = [iin(f"1503195{n:04d}") for n in range(24)]  # third-graders: a free lunch each, once a day
GUARDIAN = iin("88042140056")


def card(n: int) -> str:
    return f"00C0FFEE{n:02X}"


class Canteen:
    """The broker, the cloud, the gateway and the till of one school at lunch."""

    def __init__(self, tmp_path: Path) -> None:
        need(mosquitto_path() is not None, MOSQUITTO_MISSING)
        self.site = tmp_path / "gw" / "site.yaml"
        self.cloud = CloudProcess(tmp_path / "cloud", port=free_port())
        self.env = write_site(
            self.site,
            school_id=SCHOOL,
            gateway_id=GATEWAY,
            cloud_url=self.cloud.url,
            data_dir=tmp_path / "gw" / "data",
            mqtt_port=free_port(),
            terminals=[TILL],
            readers=[],
            broker_users=True,
        )
        self.broker: MosquittoBroker = start_site_broker(self.site, tmp_path / "broker", self.env)
        self.gateway = GatewayProcess(self.site, self.env)
        self.till: CanteenTerminalSim | None = None

    def open(self) -> CanteenTerminalSim:
        """A school whose pupils have cards and consent, the lunch served, the gateway holding the roster."""
        self.cloud.register_gateway(GATEWAY, SCHOOL, self.env["MEKTEP_GATEWAY_KEY"])
        rows = [HEADER] + [
            ["student", p, "Оқушы", f"№{n}", "3А", "kk", "", "", "", "", ""] for n, p in enumerate(PUPILS)
        ]
        rows.append(["guardian", GUARDIAN, "Ата", "Ана", "", "", "", "", "8 701 234 56 78", "", "; ".join(PUPILS)])
        engine = make_engine(self.cloud.database_url)
        with engine.begin() as conn:
            import_roster(conn, SCHOOL, parse_rows(rows), actor="admin")
            who = people_by_iin(conn)
            give_cards(
                conn,
                SCHOOL,
                {who[p]: card(n) for n, p in enumerate(PUPILS)},
                self.env["MEKTEP_CREDENTIAL_KEY"].encode(),
            )
            for pupil in PUPILS:
                set_consent(conn, SCHOOL, who[pupil], who[GUARDIAN], True, actor="guardian")
            serve_lunch_today(conn, SCHOOL)
        engine.dispose()
        self.pupils: dict[str, UUID] = {card(n): who[p] for n, p in enumerate(PUPILS)}
        self.cloud.start_and_wait()
        self.gateway.start_and_wait()
        self.gateway.wait_for_roster(20)
        password = self.env[mqtt_password_env(TILL)]
        self.till = CanteenTerminalSim(
            "127.0.0.1", self.broker.port, school=SCHOOL, device=TILL, username=TILL, password=password
        )
        self.till.wait_connected()
        self.wait_gateway_online()
        return self.till

    def wait_gateway_online(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(d["online"] for d in self.gateway.status()["drivers"]):  # type: ignore[index, union-attr]
            assert time.monotonic() < deadline, "the gateway did not reach the broker"
            time.sleep(0.05)

    def meals_in_the_cloud(self, expected: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The day's canteen events once ``expected`` of them are there, and a moment more for any extra."""
        today = datetime.now(LOCAL_TZ).date().isoformat()
        deadline = time.monotonic() + timeout_s
        while len(found := self._canteen_events(today)) < expected:
            assert time.monotonic() < deadline, f"{len(found)} of {expected} events reached the cloud"
            time.sleep(0.2)
        time.sleep(1.0)  # nothing more should come
        return self._canteen_events(today)

    def _canteen_events(self, today: str) -> list[dict[str, Any]]:
        return [e for e in self.cloud.events(SCHOOL, today) if e["device_id"] == TILL and e["kind"] != "device_status"]

    def close(self) -> None:
        if self.till is not None:
            self.till.close()
        self.gateway.stop()
        self.cloud.stop()
        self.broker.stop()


@pytest.fixture
def canteen(tmp_path: Path) -> Any:
    site = Canteen(tmp_path)
    try:
        yield site
    finally:
        site.close()


def answered_once_each(canteen: Canteen, taps: dict[str, str]) -> None:
    """Every tap answered "granted", and the cloud holding one granted meal for each pupil, nothing else."""
    till = canteen.till
    assert till is not None
    for tap_id, number in taps.items():
        answer = till.wait_feedback_for(tap_id, 30)
        assert answer is not None, f"tap {tap_id} of card {number} was never answered"
        assert (answer["granted"], answer["reason"]) == (True, "on_roster"), answer  # never "already_served"
    events = canteen.meals_in_the_cloud(len(taps))
    assert sorted(e["person_id"] for e in events) == sorted(str(canteen.pupils[n]) for n in taps.values())
    assert {(e["kind"], e["decision"]) for e in events} == {("meal", "granted")}


def test_taps_the_broker_acknowledged_and_forgot_in_a_crash_are_answered_once(canteen: Canteen) -> None:
    till = canteen.open()
    canteen.gateway.stop()  # away for a moment: the broker keeps its session and queues the taps
    taps = {till.tap(card(n)): card(n) for n in range(12)}
    assert till.wait_published(10)  # the broker has them all (PUBACK) ...
    canteen.broker.kill()  # ... and dies before it saved them or delivered them to anyone
    canteen.broker.start()
    canteen.gateway.start_and_wait()
    canteen.wait_gateway_online()
    answered_once_each(canteen, taps)


def test_a_gateway_killed_between_its_commit_and_its_answer_answers_what_it_recorded(canteen: Canteen) -> None:
    till = canteen.open()
    taps = {till.tap(card(n)): card(n) for n in range(len(PUPILS))}  # the lunch queue, all at once
    deadline = time.monotonic() + 10
    while len(till.feedback) < 6:  # the gateway is committing and answering the queue ...
        assert time.monotonic() < deadline
        time.sleep(0.001)
    canteen.gateway.kill()  # ... when the power goes
    canteen.gateway.start_and_wait()
    answered_once_each(canteen, taps)
