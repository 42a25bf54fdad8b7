"""The cloud as a deployment runs it: two stateless API processes on one Citus coordinator behind
nginx, a gateway pointed at nginx. A burst of taps at the door lands in the cloud exactly once
while one API process is SIGKILLed mid-burst and started again, and every mother's notice arrives;
with both processes up, no notice is ever sent twice. Real processes throughout."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from mektep.load_balancer import load_balancer, nginx_missing
from mektep.processes import CloudProcess, GatewayProcess, write_site
from shared.localtime import LOCAL_TZ
from simulators.push_service import PushServiceServer
from simulators.serial_reader import SerialReaderSim
from tests.cloud_api.conftest import _truncate
from tests.cloud_api.school import HEADER, give_cards, iin, people_by_iin
from tests.conftest import need

pytestmark = pytest.mark.citus

SCHOOL, GATEWAY = "nginx-school", "gw-nginx"
PUPILS = [iin(f"1503196{n:04d}") for n in range(20)]
MOTHER = iin("88042140071")
LOGIN, PASSWORD = "+77012345670", "correct horse battery"


def card(n: int) -> str:
    return f"00D0CAFE{n:02X}"


def prepare(database_url: str, card_key: bytes) -> dict[str, UUID]:
    rows = [HEADER] + [["student", p, "Оқушы", f"№{n}", "3А", "kk", "", "", "", "", ""] for n, p in enumerate(PUPILS)]
    rows.append(["guardian", MOTHER, "Ана", "Анасы", "", "ru", "", "", LOGIN, "", "; ".join(PUPILS)])
    engine = make_engine(database_url)
    with engine.begin() as conn:
        import_roster(conn, SCHOOL, parse_rows(rows), actor="admin")
        who = people_by_iin(conn)
        give_cards(conn, SCHOOL, {who[p]: card(n) for n, p in enumerate(PUPILS)}, card_key)
        for pupil in PUPILS:
            set_consent(conn, SCHOOL, who[pupil], who[MOTHER], True, actor="mother")
        account = create_account(conn, LOGIN, actor=SYSTEM, password=PASSWORD, school_id=SCHOOL, person_id=who[MOTHER])
        grant_role(conn, account.id, Role.GUARDIAN, SCHOOL, actor=SYSTEM)
    engine.dispose()
    return {card(n): who[p] for n, p in enumerate(PUPILS)}


def entries(cloud: CloudProcess) -> list[dict[str, Any]]:
    today = datetime.now(LOCAL_TZ).date().isoformat()
    return [e for e in cloud.events(SCHOOL, today) if e["kind"] == "entry"]


def wait_entries(cloud: CloudProcess, expected: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while len(found := entries(cloud)) < expected:
        assert time.monotonic() < deadline, f"{len(found)} of {expected} taps reached the cloud"
        time.sleep(0.2)
    return found


def test_a_burst_lands_once_through_nginx_while_an_api_process_is_killed(citus_url: str, tmp_path: Path) -> None:
    need(nginx_missing() is None, str(nginx_missing()))
    upgrade(citus_url)
    _truncate(citus_url)
    one = CloudProcess(tmp_path / "one", database_url=citus_url)
    two = CloudProcess(tmp_path / "two", database_url=citus_url)
    two.admin_token = one.admin_token
    for cloud in (one, two):
        # Both run push workers and the report schedule: the lock lets one at a time do a run.
        cloud.env.update(
            {
                "MEKTEP_CLOUD_ADMIN_TOKEN": one.admin_token,
                "MEKTEP_CLOUD_PUSH_WORKERS": "1",
                "MEKTEP_CLOUD_REPORT_SCHEDULER": "true",
            }
        )
    door = SerialReaderSim(tmp_path / "ttyDOOR", seed=7)
    with load_balancer([one.port, two.port], tmp_path / "nginx") as lb, PushServiceServer() as push:
        for cloud in (one, two):
            cloud.allow_push_service(push.url)
        env = write_site(
            tmp_path / "gw" / "site.yaml",
            school_id=SCHOOL,
            gateway_id=GATEWAY,
            cloud_url=lb.url,
            data_dir=tmp_path / "gw" / "data",
            mqtt_port=None,
            terminals=[],
            readers=[
                {
                    "id": "door",
                    "framing": "em4100",
                    "port": str(door.link),
                    "direction": "entry",
                    "repeat_suppress_s": 0,
                }
            ],
        )
        gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
        try:
            one.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
            pupils = prepare(citus_url, env["MEKTEP_CREDENTIAL_KEY"].encode())
            one.start_and_wait()
            two.start_and_wait()
            with httpx.Client(base_url=lb.url, timeout=10) as api:
                token = api.post("/v1/auth/sign-in", json={"login": LOGIN, "password": PASSWORD}).json()["token"]
                mother = {"Authorization": f"Bearer {token}"}
                phone = push.state.new_device()
                subscribed = api.post("/v1/me/push-subscriptions", json=phone.subscription(push.url), headers=mother)
                assert subscribed.status_code == 201
            gateway.start_and_wait()
            gateway.wait_for_roster(30)

            # A burst at the door: halfway through, one API process dies as a power cut would; the
            # rest of the burst comes while it is down, and it is started again.
            cards = list(pupils)
            burst, later = cards[:14], cards[14:]
            for number in burst[:7]:
                door.present(number)
                assert door.next_feedback(5) is not None
            one.kill()
            for number in burst[7:]:
                door.present(number)
                assert door.next_feedback(5) is not None
            one.start_and_wait()
            wait_entries(one, len(burst))
            time.sleep(1.0)  # nothing more should come
            landed = entries(two)
            assert sorted(e["person_id"] for e in landed) == sorted(str(pupils[n]) for n in burst)

            # Every child's notice reached the phone. One the killed process had sent but not yet
            # marked sent may come again when its lease runs out, under the same tag: the phone
            # shows it once. With both processes up, each notice is sent exactly once.
            def shown(got: list[Any]) -> set[str]:
                return {a.payload["tag"] for a in got}

            assert push.state.wait_for(lambda got: len(shown(got)) == len(burst), timeout_s=30)
            before = len(push.state.arrived)
            for number in later:
                door.present(number)
                assert door.next_feedback(5) is not None
            wait_entries(two, len(cards))
            assert push.state.wait_for(lambda got: len(got) >= before + len(later), timeout_s=30)
            time.sleep(2.0)  # a second send of any notice would have arrived by now
            sent = Counter(a.payload["event_id"] for a in push.state.arrived[before:])
            assert len(sent) == len(later) and set(sent.values()) == {1}
            # And nginx did share the gateway's batches between the two processes.
            assert {f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}"} <= set(lb.served("/v1/ingest/batches"))
        finally:
            gateway.stop()
            one.stop()
            two.stop()
            door.close()
