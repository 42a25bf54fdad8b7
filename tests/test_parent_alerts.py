"""A tap at the school's door reaches the mother's phone, end to end over real processes:
serial reader on a pty → gateway → cloud → Web Push (RFC 8291, VAPID) → the push simulator, which
decrypts it as her phone would. Withdrawn consent → nothing arrives."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import UUID

import httpx
from sqlalchemy import select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import push_queue
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from mektep.processes import CloudProcess, GatewayProcess, free_port, write_site
from simulators.push_service import PushServiceServer
from simulators.serial_reader import SerialReaderSim
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, give_cards, people_by_iin

SCHOOL, GATEWAY, CARD = "alert-school", "gw-alerts", "00C1C2C3C4"
PASSWORD = "correct horse battery"


def prepare(database_url: str, card_key: bytes) -> UUID:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        import_roster(conn, SCHOOL, parse_rows([HEADER, *GOOD]), actor="admin")
        who = people_by_iin(conn)
        give_cards(conn, SCHOOL, {who[CHILD]: CARD}, card_key)
        set_consent(conn, SCHOOL, who[CHILD], who[MOTHER], True, actor="mother")
        account = create_account(
            conn, "+77012345678", actor=SYSTEM, password=PASSWORD, school_id=SCHOOL, person_id=who[MOTHER]
        )
        grant_role(conn, account.id, Role.GUARDIAN, SCHOOL, actor=SYSTEM)
    engine.dispose()
    return who[CHILD]


def busy(cloud: CloudProcess) -> bool:
    """Whether the cloud's push queue holds a notice not yet settled."""
    engine = make_engine(cloud.database_url)
    try:
        with engine.connect() as conn:
            unsettled = select(push_queue.c.id).where(push_queue.c.state.in_(("pending", "working")))
            return conn.execute(unsettled).first() is not None
    finally:
        engine.dispose()


def test_a_tap_at_the_door_is_on_the_mothers_phone_in_seconds_and_only_with_consent(tmp_path: Path) -> None:
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    door = SerialReaderSim(tmp_path / "ttyDOOR", seed=5)
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        mqtt_port=None,
        terminals=[],
        readers=[
            {"id": "door-in", "framing": "em4100", "port": str(door.link), "direction": "entry", "repeat_suppress_s": 0}
        ],
    )
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    with PushServiceServer() as service:
        cloud.allow_push_service(service.url)  # on 127.0.0.1: the cloud posts there only when it is listed
        try:
            cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
            child = prepare(cloud.database_url, env["MEKTEP_CREDENTIAL_KEY"].encode())
            cloud.start_and_wait()
            gateway.start_and_wait()
            with httpx.Client(base_url=cloud.url, timeout=10) as api:
                token = api.post("/v1/auth/sign-in", json={"login": "+77012345678", "password": PASSWORD}).json()
                mother = {"Authorization": f"Bearer {token['token']}"}
                phone = service.state.new_device()
                assert (
                    api.post(
                        "/v1/me/push-subscriptions", json=phone.subscription(service.url), headers=mother
                    ).status_code
                    == 201
                )
                api.put("/v1/me/notification-settings", json={"language": "ru"}, headers=mother)
                gateway.wait_for_roster(20)

                tapped = time.perf_counter()
                door.present(CARD)
                assert door.next_feedback(5) is not None
                assert service.state.wait_for(lambda got: len(got) == 1, timeout_s=15), service.state.refused
                [notice] = service.state.arrived
                assert notice.payload["body"].startswith("Әлия: вход в школу, ") and not notice.payload["late"]
                assert notice.at - tapped < 15  # seconds, not minutes (the bench measures it properly)

                api.post(f"/v1/me/children/{child}/consent", json={"given": False}, headers=mother)
                door.present(CARD)
                assert door.next_feedback(5) is not None
                # Both taps at the cloud, and nothing left for the push workers: then nothing more comes.
                today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 5 * 3600))
                deadline = time.monotonic() + 20
                while len([e for e in cloud.events(SCHOOL, today) if e["kind"] == "entry"]) < 2 or busy(cloud):
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                assert len(service.state.arrived) == 1
        finally:
            gateway.stop()
            cloud.stop()
            door.close()
