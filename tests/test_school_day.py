"""A school day end to end: a roster with bad rows imported, synced to a real gateway, the
cloud cut off, the morning and lunch played at real readers and a real canteen terminal, the cloud
back: it holds exactly the expected records, and the audit journal the expected entries."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import credentials
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.cards import assign_card, block_card
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import set_allergen_bans, set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from mektep.processes import CloudProcess, GatewayProcess, free_port, write_site
from shared.contract import CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealRules, SetMeal
from simulators.broker import start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.serial_reader import SerialReaderSim
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin, lunch_around_now, people_by_iin
from tests.conftest import MOSQUITTO_MISSING, mosquitto_path, need

SCHOOL, GATEWAY = "day-school", "gw-day"
QUIET = iin("14052050090")  # a second-grader whose guardian gave no consent
BAD_ROWS = [
    ["student", "150319500129", "Қате", "Бала", "2а", "kk", "", "", "", "", ""],  # wrong check digit
    ["student", iin("13071150030"), "Белгісіз", "Сынып", "13Я", "kk", "", "", "", "", ""],  # no such class
]
CARDS = {
    "CHILD": "00A1B2C3D4",
    "TEEN": "00A1B2C3D5",
    "QUIET": "00A1B2C3D6",
    "TEACHER_OLD": "00A1B2C3D7",
    "TEACHER": "00A1B2C3D8",
}


def prepare_school(database_url: str, card_key: bytes) -> dict[str, UUID]:
    """What the school admin, the cook and a guardian set up in the cloud before the day."""
    engine = make_engine(database_url)
    rows = [HEADER, *GOOD, ["student", QUIET, "Тыныш", "Дана", "2А", "kk", "", "", "", "", ""], *BAD_ROWS]
    with engine.begin() as conn:
        report = import_roster(conn, SCHOOL, parse_rows(rows), actor="admin@school")
    assert len(report.problems) == 2, report.problems  # both bad rows named, the rest imported
    with engine.connect() as conn:
        who = people_by_iin(conn)
    now = datetime.now(LOCAL_TZ)
    lunch = lunch_around_now(now)
    bread = Dish(id=uuid.uuid4(), names={"ru": "Хлеб", "kk": "Нан"}, price_tiyn=5000, allergens=["gluten"])
    soup = Dish(id=uuid.uuid4(), names={"ru": "Суп", "kk": "Сорпа"}, price_tiyn=45000)
    with engine.begin() as conn:
        hashed = {name: credential_hash(card_key, card) for name, card in CARDS.items()}
        for name, person in [("CHILD", CHILD), ("TEEN", TEEN), ("QUIET", QUIET), ("TEACHER_OLD", TEACHER)]:
            assign_card(conn, SCHOOL, who[person], CredentialKind.EM4100, hashed[name], actor="admin@school")
        lost = select(credentials.c.id).where(credentials.c.credential_hash == hashed["TEACHER_OLD"])
        old = conn.execute(lost).scalar_one()
        block_card(conn, SCHOOL, old, actor="admin@school")  # the teacher lost it ...
        assign_card(conn, SCHOOL, who[TEACHER], CredentialKind.EM4100, hashed["TEACHER"], actor="admin@school")
        set_consent(conn, SCHOOL, who[CHILD], who[MOTHER], True, actor="mother")
        set_consent(conn, SCHOOL, who[TEEN], who[MOTHER], True, actor="mother")
        set_allergen_bans(conn, SCHOOL, who[TEEN], who[MOTHER], ["gluten"], actor="mother")
        set_meal_rules(conn, SCHOOL, MealRules(periods=[lunch], free_periods=["lunch"]), actor="admin@school")
        upsert_dish(conn, SCHOOL, bread, actor="cook")
        upsert_dish(conn, SCHOOL, soup, actor="cook")
        set_day_menu(
            conn,
            SCHOOL,
            SetMeal(day=now.date(), period="lunch", dish_ids=[soup.id, bread.id], price_tiyn=50000),
            actor="cook",
        )
    engine.dispose()
    return who


def test_a_school_day_offline_reaches_the_cloud_as_the_school_decided(tmp_path: Path) -> None:
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    broker = start_broker(workdir=tmp_path / "broker")
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    door = SerialReaderSim(tmp_path / "ttyIN", seed=3)
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        mqtt_port=broker.port,
        terminals=["canteen-1"],
        readers=[
            {"id": "door-in", "framing": "em4100", "port": str(door.link), "direction": "entry", "repeat_suppress_s": 0}
        ],
    )
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    terminal = None
    try:
        cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
        who = prepare_school(cloud.database_url, env["MEKTEP_CREDENTIAL_KEY"].encode())
        cloud.start_and_wait()
        gateway.start_and_wait()
        gateway.wait_for_roster(20)
        cloud.stop()  # the Internet goes away for the rest of the day

        answers = []
        for card in ("CHILD", "TEEN", "QUIET", "TEACHER_OLD", "TEACHER"):
            door.present(CARDS[card])
            line = door.next_feedback(5)
            assert line is not None, card
            answers.append(line.text.split()[:2])
        door.present("00FFFFFFFF")  # nobody's card
        stranger = door.next_feedback(5)
        assert answers == [["GRANT", "entry"]] * 3 + [["DENY", "card_blocked"], ["GRANT", "entry"]]
        assert stranger is not None and stranger.text.startswith("DENY unknown_card")

        terminal = CanteenTerminalSim("127.0.0.1", broker.port, school=SCHOOL, device="canteen-1")
        terminal.wait_connected()
        served: dict[str, dict[str, Any]] = {}
        for name, card in [("child", "CHILD"), ("again", "CHILD"), ("teen", "TEEN"), ("quiet", "QUIET")]:
            answer = terminal.wait_feedback_for(terminal.tap(CARDS[card]), 10)
            assert answer is not None, name
            served[name] = answer
        assert served["child"]["granted"] and served["child"]["name"] == "Әлия Н." and served["child"]["class"] == "3Б"
        assert (served["again"]["granted"], served["again"]["reason"]) == (False, "already_served")
        assert (served["teen"]["granted"], served["teen"]["reason"]) == (False, "allergen_conflict")
        assert "глютен" in served["teen"]["display"]  # named, in the child's language (ru)
        assert served["quiet"]["granted"]

        cloud.start_and_wait()
        today = datetime.now(LOCAL_TZ).date().isoformat()
        deadline = time.monotonic() + 30
        while len(taps := [e for e in cloud.events(SCHOOL, today) if e["kind"] != "device_status"]) < 10:
            assert time.monotonic() < deadline, taps
            time.sleep(0.2)
        time.sleep(0.5)  # nothing more should come
        taps = [e for e in cloud.events(SCHOOL, today) if e["kind"] != "device_status"]
        got = sorted(
            (str(e["device_id"]), str(e["kind"]), str(e["decision"]), str(e["reason"]), str(e["person_id"]))
            for e in taps
        )
        child, teen, teacher = str(who[CHILD]), str(who[TEEN]), str(who[TEACHER])
        assert got == sorted(
            [
                ("door-in", "entry", "granted", "on_roster", child),
                ("door-in", "entry", "granted", "on_roster", teen),
                ("door-in", "entry", "granted", "no_consent", "None"),  # counted, nothing more
                ("door-in", "denied", "denied", "card_blocked", "None"),  # a lost card is not its owner
                ("door-in", "entry", "granted", "on_roster", teacher),
                ("door-in", "denied", "denied", "unknown_card", "None"),
                ("canteen-1", "meal", "granted", "on_roster", child),
                ("canteen-1", "denied", "denied", "already_served", child),
                ("canteen-1", "denied", "denied", "allergen_conflict", teen),
                ("canteen-1", "meal", "granted", "no_consent", "None"),
            ]
        )
        lunch = next(e for e in taps if e["kind"] == "meal" and e["person_id"] == child)
        assert lunch["meal"] == {"period": "lunch", "category": "free", "dishes": ["Сорпа", "Нан"], "price_tiyn": 0}
        quiet_entry = next(e for e in taps if e["reason"] == "no_consent" and e["kind"] == "entry")
        assert quiet_entry["credential_kind"] == "em4100" and quiet_entry["person_id"] is None

        engine = make_engine(cloud.database_url)
        with engine.connect() as conn:
            journal = [(e["actor"], e["action"], e["entity"]) for e in audit_entries(conn, SCHOOL)]
        engine.dispose()
        assert journal.count(("admin@school", "create", "person")) == 5  # the good rows only
        assert ("mother", "update", "consent") in journal and ("mother", "update", "allergen_bans") in journal
        assert ("admin@school", "update", "credential") in journal  # the lost card blocked
    finally:
        if terminal is not None:
            terminal.close()
        gateway.stop()
        cloud.stop()
        broker.stop()
        door.close()
