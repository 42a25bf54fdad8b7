"""The Social Wallet's dynamic QR at the gateway: verified offline, used once, judged as a card."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import generate_latest

from device_drivers.base import CardRead, Direction, Feedback, utcnow
from device_drivers.qr.driver import QrConfig, QrDriver
from gateway.app import Gateway
from gateway.roster.store import RosterIndex, apply, load_index, migrate
from gateway.roster.sync import RosterSync
from gateway.site.config import parse_site
from gateway.storage import Storage
from gateway.taps.drafts import CredentialHasher
from gateway.taps.outbox import Outbox, Recorded
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy, ServedMeal
from gateway.taps.wallet_codes import codes_in_force
from shared.contract import Category, CredentialKind, Decision, EventKind, credential_hash
from shared.roster_contract import ROSTER_CONTRACT
from shared.wallet_qr import public_key_text
from simulators.qr_scanner import QrScannerSim
from simulators.social_wallet import wallet_code
from tests.conftest import MakeSim, eventually, fast, running
from tests.gateway.roster_factories import CARD_KEY, DAY, SCHOOL, School, at_local

CANTEEN = AccessPoint("canteen-1", Place.CANTEEN)
DOOR = AccessPoint("door-qr", Place.TURNSTILE, Direction.ENTRY)
QR_KEY = Ed25519PrivateKey.generate()  # the Wallet's, as the simulator signs with it
LUNCH = at_local(12, 30)


def school_with_vouchers() -> School:
    school = School()
    school.wallet_key = public_key_text(QR_KEY.public_key())
    school.add("ALIYA", qr_consent=True, wallet_voucher_id=uuid.uuid4())
    school.add("CARDONLY", qr_consent=False, wallet_voucher_id=uuid.uuid4())  # consented to the card alone
    school.add("PAYS", meal_category=Category.PAID, qr_consent=True, wallet_voucher_id=uuid.uuid4())
    return school


async def gateway(tmp_path: Path, school: School, feedback: list[Feedback]) -> tuple[Pipeline, RosterPolicy, Storage]:
    """A gateway's pipeline as it starts: the roster and the Wallet codes used so far read from its disk."""
    storage = Storage(tmp_path / "gateway.db")
    await storage.open()

    def load(outbox: Outbox) -> tuple[RosterIndex, list[tuple[str, dict[str, Any]]], list[tuple[str, int]]]:
        migrate(outbox.db)
        held = load_index(outbox.db)
        index = held if held.synced else apply(outbox.db, school.delta(), SCHOOL)
        return index, outbox.meals_on(DAY.isoformat()), codes_in_force(outbox.db.conn, LUNCH.timestamp())

    # What gateway.app.Gateway._load_roster does at start-up.
    index, meals, codes = await storage.call(load)
    policy = RosterPolicy(index)
    policy.remember(
        ServedMeal(person, DAY, meal["period"], Category(meal["category"]), int(meal["price_tiyn"]))
        for person, meal in meals
    )
    policy.remember_codes(codes)
    pipeline = Pipeline(
        school_id=SCHOOL,
        gateway_id="gw1",
        credential_key=CARD_KEY,
        storage=storage,
        policy=policy,
        points={CANTEEN.device_id: CANTEEN},
        feedback=lambda _reader, fb: feedback.append(fb),
    )
    return pipeline, policy, storage


def scan(code: str, seconds: int = 0) -> CardRead:
    return CardRead(CANTEEN.device_id, code, CredentialKind.QR, LUNCH.replace(second=seconds))


async def test_a_code_from_the_wallet_serves_one_free_meal_once_also_after_a_restart(tmp_path: Path) -> None:
    school = school_with_vouchers()
    aliya = school.people["ALIYA"]
    feedback: list[Feedback] = []
    pipeline, policy, storage = await gateway(tmp_path, school, feedback)
    code = wallet_code(QR_KEY, aliya.wallet_voucher_id, LUNCH.timestamp())  # type: ignore[arg-type]
    (served,) = await pipeline.process([scan(code)])
    assert served.event.decision is Decision.GRANTED and served.event.kind is EventKind.MEAL
    assert served.event.person_id == str(aliya.id) and served.event.meal.category is Category.FREE  # type: ignore[union-attr]
    assert feedback[-1].person == "ALIYA N."
    # the event is hashed by the voucher, stable across codes, and the code itself is never sent
    assert served.event.credential_hash == credential_hash(CARD_KEY, f"wallet-voucher:{aliya.wallet_voucher_id}")
    assert code not in served.event.body(served.seq)
    (again,) = await pipeline.process([scan(code, 5)])
    assert (again.event.decision, again.event.reason, again.event.person_id) == (Decision.DENIED, "qr_replayed", None)
    await storage.close()

    pipeline, policy, storage = await gateway(tmp_path, school, feedback)  # the gateway restarts
    (after_restart,) = await pipeline.process([scan(code, 10)])
    assert after_restart.event.reason == "qr_replayed"
    # the next code the app shows is a new code, but the free lunch is still had
    following = wallet_code(QR_KEY, aliya.wallet_voucher_id, LUNCH.timestamp() + 30)  # type: ignore[arg-type]
    (second,) = await pipeline.process([scan(following, 40)])
    assert second.event.reason == "already_served"
    assert policy.qr_refusals == {"qr_replayed": 1}
    await storage.close()


async def test_stale_forged_unknown_and_mangled_codes_are_refused_for_what_they_are(tmp_path: Path) -> None:
    school = school_with_vouchers()
    voucher = school.people["ALIYA"].wallet_voucher_id
    assert voucher is not None
    feedback: list[Feedback] = []
    pipeline, policy, storage = await gateway(tmp_path, school, feedback)
    codes = {
        "qr_stale": wallet_code(QR_KEY, voucher, LUNCH.timestamp() - 300),  # a screenshot of 5 minutes ago
        "qr_bad_signature": wallet_code(Ed25519PrivateKey.generate(), voucher, LUNCH.timestamp()),
        "qr_unknown_voucher": wallet_code(QR_KEY, uuid.uuid4(), LUNCH.timestamp()),
        "qr_malformed": "SWQR1.not-a-code",
    }
    recorded: list[Recorded] = await pipeline.process([scan(code) for code in codes.values()])
    assert [(r.event.kind, r.event.reason, r.event.person_id) for r in recorded] == [
        (EventKind.DENIED, reason, None) for reason in codes
    ]
    assert all(r.event.credential_hash for r in recorded)  # recorded as an unknown card is
    assert [fb.granted for fb in feedback] == [False] * 4 and feedback[0].display == "Рұқсат жоқ: QR-код ескірген"
    assert policy.qr_refusals == dict.fromkeys(codes, 1)
    # none of them used the child's meal: her own code still serves her
    (served,) = await pipeline.process([scan(wallet_code(QR_KEY, voucher, LUNCH.timestamp()))])
    assert served.event.decision is Decision.GRANTED
    await storage.close()


async def test_consent_is_per_method_a_child_without_qr_consent_is_refused_by_qr_and_served_by_card(
    tmp_path: Path,
) -> None:
    school = school_with_vouchers()
    child = school.people["CARDONLY"]
    feedback: list[Feedback] = []
    pipeline, _, storage = await gateway(tmp_path, school, feedback)
    code = wallet_code(QR_KEY, child.wallet_voucher_id, LUNCH.timestamp())  # type: ignore[arg-type]
    (by_qr,) = await pipeline.process([scan(code)])
    # the code names nobody else: refused, and the event names nobody
    assert by_qr.event.decision is Decision.DENIED and by_qr.event.reason == "qr_no_consent"
    assert by_qr.event.person_id is None
    assert feedback[-1].reason == "qr_no_consent"
    # the card she consented to still identifies her, and serves her lunch
    pipeline._hash = CredentialHasher(CARD_KEY)
    (by_card,) = await pipeline.process([CardRead(CANTEEN.device_id, "CARDONLY", CredentialKind.EM4100, LUNCH)])
    assert (by_card.event.decision, by_card.event.person_id) == (Decision.GRANTED, str(child.id))
    await storage.close()


async def test_through_the_real_scanner_driver_on_a_pty_a_code_opens_once(tmp_path: Path, pty_devices: MakeSim) -> None:
    school = school_with_vouchers()
    voucher = school.people["ALIYA"].wallet_voucher_id
    assert voucher is not None
    sim = pty_devices(QrScannerSim, "ttyQR")
    # No repeat suppression in the driver: the second scan of one code must reach the gateway, to be refused there.
    driver = fast(QrDriver(QrConfig("door-qr", str(sim.link), repeat_suppress_s=0)))
    feedback: list[Feedback] = []
    pipeline, _, storage = await gateway(tmp_path, school, feedback)
    pipeline._points = {"door-qr": DOOR}
    pipeline._feedback = lambda reader, fb: (feedback.append(fb), driver.feedback(reader, fb))
    committing = asyncio.create_task(pipeline.run())
    async with running(driver, pipeline):
        await eventually(lambda: driver.online, what="the scanner's port open")
        code = wallet_code(QR_KEY, voucher)  # now: the driver stamps the read with the clock
        sim.scan(code)
        line = await sim.next_feedback_async(5)
        assert line is not None and line.text.startswith("GRANT entry"), line
        sim.scan(code)  # a screenshot of it, shown again
        line = await sim.next_feedback_async(5)
        assert line is not None and line.text.startswith("DENY qr_replayed"), line
    committing.cancel()
    await asyncio.gather(committing, return_exceptions=True)
    assert [fb.person for fb in feedback] == ["ALIYA N.", None]
    await storage.close()


def gateway_app(tmp_path: Path) -> Gateway:
    site = parse_site(
        f"""
school: {{id: {SCHOOL}, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path}}}
cloud: {{url: "http://cloud"}}
"""
    )
    unreachable = httpx.MockTransport(lambda request: httpx.Response(503))
    points = {DOOR.device_id: DOOR}
    return Gateway(
        site, key=b"k", credential_key=CARD_KEY, drivers=[], points=points, transport=unreachable, ui_port=-1
    )


async def test_a_restarted_gateway_process_still_refuses_a_used_code_and_counts_it(tmp_path: Path) -> None:
    school = school_with_vouchers()
    voucher = school.people["ALIYA"].wallet_voucher_id
    assert voucher is not None
    code = wallet_code(QR_KEY, voucher)  # now, as the driver stamps the read

    def door(text: str) -> CardRead:
        return CardRead(DOOR.device_id, text, CredentialKind.QR, utcnow())

    first = gateway_app(tmp_path)
    await first.storage.open()
    await first.storage.call(lambda outbox: (migrate(outbox.db), apply(outbox.db, school.delta(), SCHOOL)))
    await first._load_roster()
    (entered,) = await first.pipeline.process([door(code)])
    await first.storage.close()
    assert entered.event.decision is Decision.GRANTED

    second = gateway_app(tmp_path)  # what `mektep gateway run` builds after a restart
    await second.storage.open()
    await second._load_roster()
    (again,) = await second.pipeline.process([door(code)])
    metrics = generate_latest(second.registry).decode()
    await second.storage.close()
    assert again.event.reason == "qr_replayed"
    assert 'mektep_gateway_qr_refusals_total{reason="qr_replayed"} 1.0' in metrics


async def test_a_gateway_upgraded_with_a_roster_held_asks_for_everything_once(tmp_path: Path) -> None:
    school = school_with_vouchers()
    storage = Storage(tmp_path / "gateway.db")
    await storage.open()
    # The roster an earlier release pulled: version 5, without the Wallet's fields.
    older = school.delta(version=5).model_copy(update={"wallet_public_key": None})

    def held_by_an_earlier_release(outbox: Outbox) -> None:
        migrate(outbox.db)
        apply(outbox.db, older, SCHOOL)
        outbox.db.execute("DELETE FROM roster_meta WHERE key = 'contract'")  # it recorded none

    await storage.call(held_by_an_earlier_release)
    asked: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path.decode())
        since = int(request.url.params["since"])
        delta = school.delta(version=6) if since == 0 else school.delta(version=6).model_copy(update={"full": False})
        answer = delta.model_copy(update={"since": since, "contract": ROSTER_CONTRACT})
        return httpx.Response(200, content=answer.model_dump_json())

    indexes: list[RosterIndex] = []
    sync = RosterSync(
        storage=storage, school_id=SCHOOL, gateway_id="gw1", key=b"k", base_url="http://cloud", on_index=indexes.append
    )
    held = await storage.call(lambda outbox: load_index(outbox.db))
    sync.stats.version, sync.contract = held.version, held.contract  # as Gateway._load_roster sets them
    async with httpx.AsyncClient(base_url="http://cloud", transport=httpx.MockTransport(cloud)) as client:
        await sync.pull(client)
        await sync.pull(client)
    await storage.close()
    assert asked == ["/v1/sync/roster?since=0&contract=3", "/v1/sync/roster?since=6&contract=3"]
    assert indexes[0].wallet_key is not None and len(indexes[0].vouchers) == 3
