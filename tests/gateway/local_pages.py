"""The gateway's pages over a small school, as on the school's network (staff sign in) or on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from device_drivers.base import CardRead
from gateway.access import store as access_store
from gateway.access.gate import LocalAccess, session_key
from gateway.pages.canteen import CanteenDesk
from gateway.pages.web import create_ui_app
from gateway.roster.store import apply, migrate
from gateway.storage import Storage
from gateway.taps.outbox import Outbox
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy
from shared.contract import CredentialKind
from shared.pins import hash_pin
from tests.gateway.roster_factories import CARD_KEY, SCHOOL, School, at_local

__all__ = ["CANTEEN", "PIN", "Pages", "local_pages"]

CANTEEN = AccessPoint("canteen-1", Place.CANTEEN)
PIN = "4821"


@dataclass
class Pages:
    app: FastAPI
    school: School
    access: LocalAccess
    storage: Storage
    pipeline: Pipeline
    now: list[datetime]  # one item: the clock of the desk and the gate, moved by a test

    def tap(self, card: str, minute: int = 10) -> None:
        """A card at the canteen terminal at 12:minute."""
        read = CardRead(CANTEEN.device_id, card, CredentialKind.EM4100, at_local(12, minute))
        asyncio.run(self.pipeline.process([read]))

    def pairing_code(self) -> str:
        """What ``mektep gateway pair`` prints."""
        return asyncio.run(self.storage.call(lambda o: access_store.issue_code(o.db, self.now[0])))

    def staff_id(self, name: str = "COOK") -> str:
        return str(self.school.people[name].id)


@contextmanager
def local_pages(tmp_path: Path, *, required: bool = True) -> Iterator[Pages]:
    """The events page and the canteen screen with a cook (PIN :data:`PIN`), children and a teacher."""
    school = School()
    school.add("ALIYA", display_name="Әлия Сейіт", class_name="3Б")
    school.add("BEREKE", display_name="Береке Нұр", class_name="4А")
    school.add("TEACHER", role="staff", meal_category=None, class_name=None)
    # Few rounds: the format is the production one, the test stays fast.
    school.add(
        "COOK",
        role="staff",
        meal_category=None,
        class_name=None,
        display_name="Гүлнар апай",
        canteen_pin_hash=hash_pin(PIN, iterations=1_000),
    )
    storage = Storage(tmp_path / "data" / "gateway.db")
    asyncio.run(storage.open())

    def prepare(outbox: Outbox) -> RosterPolicy:
        migrate(outbox.db)
        access_store.migrate(outbox.db)
        return RosterPolicy(apply(outbox.db, school.delta(), SCHOOL))

    policy = asyncio.run(storage.call(prepare))
    pipeline = Pipeline(
        school_id=SCHOOL,
        gateway_id="gw1",
        credential_key=CARD_KEY,
        storage=storage,
        policy=policy,
        points={CANTEEN.device_id: CANTEEN},
        feedback=lambda reader, fb: None,
    )
    now = [at_local(12, 30)]
    desk = CanteenDesk(policy=policy, pipeline=pipeline, storage=storage, points=[CANTEEN], clock=lambda: now[0])
    access = LocalAccess(
        required=required,
        storage=storage,
        key=session_key(b"gateway-key"),
        people=lambda: policy.index.people,
        staff_guard=desk.guard,
        clock=lambda: now[0],
    )

    async def latest(limit: int) -> list[dict[str, object]]:
        return await storage.call(lambda outbox: outbox.latest(limit))

    def status() -> dict[str, object]:
        return {"outbox": asdict(storage.outbox.counts()), "forwarder": {"cloud_online": False}}

    app = create_ui_app(
        school_name="№1", latest=latest, status=status, registry=CollectorRegistry(), canteen=desk, access=access
    )
    try:
        yield Pages(app, school, access, storage, pipeline, now)
    finally:
        asyncio.run(storage.close())
