"""A kind of dish a guardian forbids is refused at the MQTT canteen terminal with no cloud at all.

Real parts: Mosquitto, the gateway (in this process) with its MQTT terminal driver, and the
terminal simulator speaking the terminals' contract. The gateway holds a roster received earlier
(written to its database as a sync would) and its cloud does not answer: it decides offline.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time
from pathlib import Path

import pytest
import sqlite_utils

from gateway.app import Gateway
from gateway.roster.store import apply, migrate
from gateway.site.config import parse_site
from gateway.site.devices import build_devices
from shared.contract import Category, CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import (
    ROSTER_CONTRACT,
    Dish,
    DishCategory,
    MealPeriod,
    MealRules,
    PersonRole,
    RosterCredential,
    RosterDelta,
    RosterPerson,
    SetMeal,
)
from simulators.broker import MosquittoBroker
from simulators.canteen_terminal import CanteenTerminalSim
from tests.conftest import MOSQUITTO_MISSING, eventually, mosquitto_path, need

pytestmark = pytest.mark.mosquitto

SCHOOL, TILL, CARD_KEY = "s1", "till-1", b"c"


def _roster() -> RosterDelta:
    """Aliya may have no pastry; Bota may. Today's lunch (all day long) is soup and baursak, a pastry."""
    soup = Dish(id=uuid.uuid4(), names={"kk": "Сорпа", "ru": "Суп"}, price_tiyn=30000)
    baursak = Dish(
        id=uuid.uuid4(), names={"kk": "Бауырсақ", "ru": "Баурсак"}, price_tiyn=10000, category=DishCategory.PASTRY
    )
    people = [
        RosterPerson(
            id=uuid.uuid4(),
            role=PersonRole.STUDENT,
            display_name=name,
            class_name="3А",
            language="kk",
            consent=True,
            meal_category=Category.FREE,
            category_bans=bans,
        )
        for name, bans in (("Aliya A.", [DishCategory.PASTRY]), ("Bota B.", []))
    ]
    cards = [
        RosterCredential(credential_hash=credential_hash(CARD_KEY, card), person_id=p.id, kind=CredentialKind.EM4100)
        for card, p in zip(("CARD-ALIYA", "CARD-BOTA"), people, strict=True)
    ]
    today = datetime.now(LOCAL_TZ).date()
    return RosterDelta(
        school_id=SCHOOL,
        since=0,
        version=3,
        full=True,
        contract=ROSTER_CONTRACT,
        people=people,
        credentials=cards,
        meal_rules=MealRules(periods=[MealPeriod(name="lunch", starts=time(0, 0), ends=time(23, 59, 59))]),
        dishes=[soup, baursak],
        menu=[SetMeal(day=today, period="lunch", dish_ids=[soup.id, baursak.id], price_tiyn=40000)],
    )


async def test_a_forbidden_pastry_is_refused_at_the_terminal_offline_naming_the_kind(tmp_path: Path) -> None:
    binary = mosquitto_path()
    need(binary is not None, MOSQUITTO_MISSING)
    assert binary is not None
    broker = MosquittoBroker(binary, tmp_path / "broker")
    broker.start()
    data = tmp_path / "gw"
    data.mkdir(mode=0o700)
    db = sqlite_utils.Database(data / "gateway.db")
    migrate(db)
    apply(db, _roster(), SCHOOL)  # received in an earlier sync; the cloud is gone since
    db.close()
    (data / "gateway.db").chmod(0o600)  # the gateway refuses a database others may read
    site = parse_site(
        f"""
school: {{id: {SCHOOL}, name: School, language: kk}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {data}}}
cloud: {{url: "http://127.0.0.1:9", retry_max_s: 5}}
mqtt: {{port: {broker.port}}}
terminals: [{{id: {TILL}}}]
"""
    )
    devices = build_devices(site)
    gateway = Gateway(
        site, key=b"k", credential_key=CARD_KEY, drivers=devices.drivers, points=devices.points, ui_port=-1
    )
    till = CanteenTerminalSim("127.0.0.1", broker.port, school=SCHOOL, device=TILL)
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.to_thread(till.wait_connected)
        await eventually(lambda: task.done() or all(d.online for d in gateway.drivers), 10, "the gateway on the broker")
        assert not task.done(), task.exception()
        refused = await asyncio.to_thread(till.wait_feedback_for, till.tap("CARD-ALIYA"), 10.0)
        assert refused is not None and not refused["granted"]
        assert refused["reason"] == "category_banned"
        # In the child's language (Kazakh), the kind named: "тоқаш өнімдері" is pastry.
        assert refused["display"] == "Рұқсат жоқ: тыйым салынған тағам түрі бар: тоқаш өнімдері", refused
        served = await asyncio.to_thread(till.wait_feedback_for, till.tap("CARD-BOTA"), 10.0)
        assert served is not None and served["granted"], served  # the same lunch for a child without the ban
        events = {e["reason"]: e for e in await gateway._latest(10) if e["kind"] != "device_status"}
        assert events["category_banned"]["reason_detail"] == ["pastry"]  # what the cloud will be told
        assert gateway.forwarder.stats.delivered == 0 and not gateway.forwarder.stats.cloud_online  # offline
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        till.close()
        broker.stop()
