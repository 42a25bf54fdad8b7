"""Prepaid meals end to end: the balance holds offline and across a gateway killed mid-day,
and the cloud's ledger charges each meal exactly once when the backlog arrives."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from uuid import UUID

from cloud_api.db.engine import make_engine
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.prepaid import EntryKind, accounts_of, record_credit, set_daily_limit
from cloud_api.services.roster_import import import_roster
from mektep.processes import CloudProcess, GatewayProcess, free_port, write_site
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealRules, SetMeal
from simulators.broker import start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from tests.cloud_api.school import HEADER, MOTHER, give_cards, iin, lunch_around_now, people_by_iin
from tests.conftest import MOSQUITTO_MISSING, mosquitto_path, need

SCHOOL, GATEWAY = "prepaid-school", "gw-prepaid"
PUPIL = iin("09031550017")  # grade 11: pays for lunch
CARD = "00B1B2C3D4"
PLOV_TIYN = 70000


def prepare(database_url: str, card_key: bytes) -> UUID:
    """A prepaid school whose pupil has 1,500 tenge on the balance (and a guardian's limit of 2,500 a day)."""
    engine = make_engine(database_url)
    rows = [
        HEADER,
        ["student", PUPIL, "Сейіт", "Арман", "11А", "kk", "paid", "", "", "", ""],
        ["guardian", MOTHER, "Сейіт", "Гүлнар", "", "", "", "", "8 (701) 234-56-78", "", PUPIL],
    ]
    now = datetime.now(LOCAL_TZ)
    lunch = lunch_around_now(now)  # and no free periods: every tap in the test is a paid lunch
    plov = Dish(id=uuid.uuid4(), names={"kk": "Палау"}, price_tiyn=PLOV_TIYN)
    with engine.begin() as conn:
        import_roster(conn, SCHOOL, parse_rows(rows), actor="admin@school")
        who = people_by_iin(conn)
        pupil = who[PUPIL]
        give_cards(conn, SCHOOL, {pupil: CARD}, card_key)
        set_consent(conn, SCHOOL, pupil, who[MOTHER], True, actor="mother")
        set_daily_limit(conn, SCHOOL, pupil, who[MOTHER], 250000, actor="mother")
        record_credit(conn, SCHOOL, pupil, 150000, EntryKind.TOP_UP, actor="admin@school")
        rules = MealRules(periods=[lunch], free_periods=[], prepaid=True)
        set_meal_rules(conn, SCHOOL, rules, actor="admin@school")
        upsert_dish(conn, SCHOOL, plov, actor="cook")
        menu = SetMeal(day=now.date(), period="lunch", dish_ids=[plov.id], price_tiyn=PLOV_TIYN)
        set_day_menu(conn, SCHOOL, menu, actor="cook")
    engine.dispose()
    return pupil


def test_the_balance_holds_offline_across_a_crash_and_the_cloud_charges_once(tmp_path: Path) -> None:
    need(mosquitto_path() is not None, MOSQUITTO_MISSING)
    broker = start_broker(workdir=tmp_path / "broker")
    cloud = CloudProcess(tmp_path / "cloud", port=free_port())
    env = write_site(
        tmp_path / "gw" / "site.yaml",
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        cloud_url=cloud.url,
        data_dir=tmp_path / "gw" / "data",
        mqtt_port=broker.port,
        terminals=["canteen-1"],
        readers=[],
    )
    gateway = GatewayProcess(tmp_path / "gw" / "site.yaml", env)
    terminal = None
    try:
        cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
        pupil = prepare(cloud.database_url, env["MEKTEP_CREDENTIAL_KEY"].encode())
        cloud.start_and_wait()
        gateway.start_and_wait()
        gateway.wait_for_roster(20)
        cloud.stop()  # offline from here until the end of the day

        terminal = CanteenTerminalSim("127.0.0.1", broker.port, school=SCHOOL, device="canteen-1")
        terminal.wait_connected()

        def lunch() -> tuple[bool, str | None]:
            answer = terminal.wait_feedback_for(terminal.tap(CARD), 10)  # type: ignore[union-attr]
            assert answer is not None
            return bool(answer["granted"]), answer.get("reason")

        assert lunch() == (True, "on_roster")  # 700 of 1,500 tenge: 800 left
        assert lunch() == (True, "on_roster")  # 100 left
        gateway.kill()  # a power cut at the canteen, still offline
        gateway.start_and_wait()
        # what it charged is on its disk: a third plov is refused, with no cloud to ask
        assert lunch() == (False, "insufficient_balance")

        cloud.start_and_wait()
        today = datetime.now(LOCAL_TZ).date().isoformat()
        deadline = time.monotonic() + 30
        while len(meals := [e for e in cloud.events(SCHOOL, today) if e["kind"] in ("meal", "denied")]) < 3:
            assert time.monotonic() < deadline, meals
            time.sleep(0.2)
        assert sorted(str(e["reason"]) for e in meals) == ["insufficient_balance", "on_roster", "on_roster"]
        engine = make_engine(cloud.database_url)
        with engine.connect() as conn:
            account = accounts_of(conn, SCHOOL, [pupil])[pupil]
        engine.dispose()
        assert (account.credited_tiyn, account.charged_tiyn, account.balance_tiyn) == (150000, 140000, 10000)
    finally:
        if terminal is not None:
            terminal.close()
        gateway.stop()
        cloud.stop()
        broker.stop()
