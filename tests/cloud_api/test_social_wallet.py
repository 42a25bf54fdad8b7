"""The Social Wallet adapter end to end (§33-1.4, §33-2): signed ingest → outbox → the simulator over HTTP.

Every free or discounted meal that wins its claim reaches the Wallet exactly once, with the child's
IIN and the prices; a paid meal or a second claim never does. Outages are lived through on an
injected clock (no test sleeps an hour), rejections reach the school admin, forged receipts are
not delivery, and the табель reconciles meals against receipts. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text, update

from cloud_api.app import create_app
from cloud_api.background.http import RetryPolicy
from cloud_api.db.schema import free_meals, iin_indexes, people, wallet_outbox, wallet_receipts
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.gateways import register_gateway
from cloud_api.services.roster_import import import_roster
from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.contract import (
    SCHEMA_FILE,
    WalletReceipt,
    load_public_key,
    public_key_text,
    schema_text,
    sign_receipt,
    verify_receipt,
)
from cloud_api.social_wallet.outbox import OutboxStatus
from cloud_api.social_wallet.sender import SendReport, send_pending
from cloud_api.social_wallet.tabel import MealStatus, monthly_tabel
from shared.contract import INGEST_PATH
from simulators.social_wallet import WalletServer
from tests.cloud_api.helpers import ADMIN, KEY, batch_body, event, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, OTHER_CHILD, TEEN, World
from tests.cloud_api.test_canteen_routes import DAY, setup_menu

LUNCH_PRICE = 95000  # setup_menu's Tuesday lunch: soup 300 + plov 650 tenge
NEXT_DAY = "2026-11-25"


@dataclass
class FakeClock:
    """The simulator's clock and the sender's sleep in one: sleeping moves time, instantly."""

    now: float = 1_000_000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def meal(category: str, price: int, period: str = "lunch") -> dict[str, Any]:
    return {"period": period, "category": category, "dishes": ["Көже", "Палау"], "price_tiyn": price}


def ingest(w: World, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Post ``events`` as one signed batch of gw1; the cloud's answer."""
    body = batch_body(events)
    r = w.client.post(INGEST_PATH, content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def lunch_day(w: World) -> dict[str, str]:
    """Tuesday's meals: CHILD free, TEEN discounted (half), OTHER_CHILD paid, CHILD's second free lunch."""
    at = f"{DAY}T12:30:00+05:00"
    events = {
        "free": event(1, kind="meal", person_id=str(w.ids[CHILD]), reason="on_roster", meal=meal("free", 0), at=at),
        "discounted": event(
            2, kind="meal", person_id=str(w.ids[TEEN]), reason="on_roster", meal=meal("discounted", 47500), at=at
        ),
        "paid": event(
            3,
            kind="meal",
            person_id=str(w.ids[OTHER_CHILD]),
            reason="on_roster",
            meal=meal("paid", LUNCH_PRICE),
            at=at,
        ),
        "second": event(
            4,
            kind="meal",
            person_id=str(w.ids[CHILD]),
            reason="on_roster",
            meal=meal("free", 0),
            at=f"{DAY}T13:10:00+05:00",
        ),
    }
    ingest(w, list(events.values()))
    return {name: e["id"] for name, e in events.items()}


async def send(w: World, wallet: WalletServer, policy: RetryPolicy | None = None, **options: Any) -> SendReport:
    """One sender round against ``wallet``; the sender verifies under ``wallet``'s own public key."""
    async with httpx.AsyncClient(base_url=wallet.url, timeout=5.0) as client:
        return await send_pending(
            w.app.state.engine, client, public_key=options.pop("key", wallet.public_key), policy=policy, **options
        )


def outbox(w: World) -> dict[str, dict[str, Any]]:
    with w.app.state.engine.connect() as conn:
        return {str(r.record_id): dict(r._mapping) for r in conn.execute(select(wallet_outbox))}


def receipts(w: World) -> dict[str, dict[str, Any]]:
    with w.app.state.engine.connect() as conn:
        return {str(r.record_id): dict(r._mapping) for r in conn.execute(select(wallet_receipts))}


def quick(clock: FakeClock, attempts: int = 40) -> RetryPolicy:
    """The production schedule's shape on the fake clock, without jitter."""
    return RetryPolicy(initial_s=1.0, max_s=300.0, attempts=attempts, sleep=clock.sleep, jitter=lambda: 1.0)


# -- every state-paid meal once -------------------------------------------------------------------


async def test_every_free_and_discounted_meal_arrives_once_with_iin_and_price_and_a_paid_one_never(
    world: World,
) -> None:
    setup_menu(world)
    ids = lunch_day(world)
    assert set(outbox(world)) == {ids["free"], ids["discounted"]}  # not the paid meal, not the second claim
    with WalletServer() as wallet:
        report = await send(world, wallet)
        assert (report.claimed, report.delivered, report.rejected, report.retry) == (2, 2, 0, 0)
        accepted = {str(k): v for k, v in wallet.state.accepted.items()}
        assert set(accepted) == {ids["free"], ids["discounted"]}
        free, discounted = accepted[ids["free"]], accepted[ids["discounted"]]
        assert (free.student_iin, free.category, free.full_price_tiyn, free.state_share_tiyn) == (
            CHILD,
            "free",
            LUNCH_PRICE,
            LUNCH_PRICE,
        )
        assert (discounted.student_iin, discounted.full_price_tiyn, discounted.state_share_tiyn) == (
            TEEN,
            LUNCH_PRICE,
            LUNCH_PRICE - 47500,
        )
        assert free.dishes == ["Көже", "Палау"] and free.school_id == "s1" and free.period == "lunch"
        assert free.served_at.isoformat() == f"{DAY}T12:30:00+05:00" and str(free.meal_date) == DAY
        # a replayed batch (the gateway retrying) and a second round send nothing more
        lunch_day_again = [
            event(
                1,
                kind="meal",
                person_id=str(world.ids[CHILD]),
                reason="on_roster",
                meal=meal("free", 0),
                at=f"{DAY}T12:30:00+05:00",
                id=ids["free"],
            ),
        ]
        ingest(world, lunch_day_again)
        again = await send(world, wallet)
        assert again.claimed == 0 and wallet.state.requests == 2
    stored = receipts(world)
    assert set(stored) == {ids["free"], ids["discounted"]}
    for record_id, row in stored.items():
        given = wallet.state.receipts[UUID(record_id)]
        assert row["receipt_id"] == given.receipt_id and row["signature"] == given.signature
        kept = WalletReceipt(
            record_id=UUID(record_id), **{k: row[k] for k in ("receipt_id", "accepted_at", "signature", "public_key")}
        )
        assert verify_receipt(wallet.public_key, kept)  # the proof stays verifiable from what is kept
    assert {r["status"] for r in outbox(world).values()} == {"delivered"}
    # the registrations as sent are kept, with the child's IIN, only as ciphertexts (Order No. 456 §10)
    with world.app.state.engine.connect() as conn:
        stored = [row.payload for row in conn.execute(text("SELECT payload FROM wallet_outbox"))]
    assert len(stored) == 2 and all(value.startswith("e1:") for value in stored)
    assert not any(CHILD in value or TEEN in value for value in stored)
    assert {r["payload"]["student_iin"] for r in outbox(world).values()} == {CHILD, TEEN}


async def test_the_wallet_down_for_an_hour_then_up_gets_every_meal_exactly_once(world: World) -> None:
    setup_menu(world)
    ids = lunch_day(world)
    clock = FakeClock()
    with WalletServer(clock=clock) as wallet:
        wallet.fail(until=clock() + 3600)
        # a round with a short schedule gives up for now: the records wait, nothing is lost
        early = await send(world, wallet, quick(clock, attempts=3))
        assert (early.delivered, early.retry) == (0, 2) and wallet.state.accepted == {}
        rows = outbox(world)
        assert {r["status"] for r in rows.values()} == {"pending"}
        assert all(r["attempts"] == 3 and r["last_error"].startswith("HTTP 503") for r in rows.values())
        report = await send(world, wallet, quick(clock))
        assert (report.delivered, report.retry) == (2, 0)
        assert clock.now - 1_000_000.0 >= 3600 and wallet.state.failed > 6
        assert max(clock.slept) <= 300  # the backoff is capped
        assert sorted(map(str, wallet.state.accepted)) == sorted([ids["free"], ids["discounted"]])
        assert wallet.state.duplicates == 0  # each arrived once, not once per retry
        assert (await send(world, wallet, quick(clock))).claimed == 0
    assert len(receipts(world)) == 2


async def test_retry_after_is_honoured(world: World) -> None:
    lunch_day(world)
    clock = FakeClock()
    with WalletServer(clock=clock) as wallet:
        wallet.fail(2, retry_after=120)
        report = await send(world, wallet, quick(clock), concurrency=1)
        assert report.delivered == 2
        assert clock.slept and min(clock.slept) >= 120  # not the 1 s the schedule alone would wait


# -- rejections, forgeries, repeats ---------------------------------------------------------------


async def test_a_rejected_record_is_flagged_for_the_school_admin_and_the_others_go_on(
    world: World,
) -> None:
    setup_menu(world)
    ids = lunch_day(world)
    with WalletServer() as wallet:
        wallet.reject(lambda r: r.student_iin == TEEN, "not_eligible", "нет льготы в реестре")
        report = await send(world, wallet)
        assert (report.delivered, report.rejected) == (1, 1)
        assert [str(k) for k in wallet.state.accepted] == [ids["free"]]
        assert (await send(world, wallet)).claimed == 0  # a rejected record is not sent again
    rows = outbox(world)
    assert (rows[ids["discounted"]]["status"], rows[ids["discounted"]]["reason"]) == ("rejected", "not_eligible")
    assert set(receipts(world)) == {ids["free"]}
    head = {**world.token("head@s1.kz"), "Accept-Language": "ru"}
    seen = world.client.get("/v1/schools/s1/social-wallet/rejected", headers=head)
    assert seen.status_code == 200
    [flagged] = seen.json()
    assert flagged["record_id"] == ids["discounted"] and flagged["person_id"] == str(world.ids[TEEN])
    assert (flagged["reason"], flagged["day"]) == ("not_eligible", DAY)
    assert flagged["wallet_message"] == "нет льготы в реестре"  # the Wallet's own words, beside ours
    assert "льготное питание" in flagged["reason_text"] and "iin" not in flagged
    kk = world.client.get("/v1/schools/s1/social-wallet/rejected", headers=world.token("head@s1.kz")).json()
    assert kk[0]["reason_text"] != flagged["reason_text"]  # Kazakh by default
    for who in ("cook@s1.kz", "+77012345678", "cook@s2.kz"):
        assert world.client.get("/v1/schools/s1/social-wallet/rejected", headers=world.token(who)).status_code == 403


async def test_a_forged_receipt_is_not_delivery(world: World) -> None:
    ids = lunch_day(world)
    with WalletServer() as wallet:
        wallet.forge()
        report = await send(world, wallet)
        assert (report.delivered, report.unverified) == (0, 2)
        assert receipts(world) == {}
        assert {(r["status"], r["last_error"]) for r in outbox(world).values()} == {
            ("pending", "receipt signature does not verify")
        }
        # a receipt genuinely signed, but by a key the deployment does not trust, proves nothing either
        stranger = await send(world, wallet, key=load_public_key(public_key_text(WalletServer().public_key)))
        assert stranger.delivered == 0 and receipts(world) == {}
        wallet.forge(False)
        honest = await send(world, wallet)
        assert honest.delivered == 2 and len(wallet.state.accepted) == 2  # the repeats were duplicates
    assert set(receipts(world)) == {ids["free"], ids["discounted"]}


async def test_a_record_answered_twice_is_stored_once(world: World) -> None:
    lunch_day(world)
    clock = FakeClock()
    with WalletServer(clock=clock) as wallet:
        wallet.answer_twice()  # the first answer of each record is lost after the Wallet accepted it
        report = await send(world, wallet, quick(clock))
        assert report.delivered == 2 and wallet.state.duplicates == 2 and len(wallet.state.accepted) == 2
        first = receipts(world)
        # a lease that ran out (a sender that died) sends the delivered records again
        with world.app.state.engine.begin() as conn:
            conn.execute(update(wallet_outbox).values(status=OutboxStatus.PENDING.value, claimed_until=None))
        again = await send(world, wallet, quick(clock))
        assert (again.delivered, again.duplicates) == (2, 2)
    assert receipts(world) == first  # stored once: the first receipt stays the proof
    assert {r["status"] for r in outbox(world).values()} == {"delivered"}


# -- the табель ------------------------------------------------------------------------------------


async def test_the_tabel_reconciles_meal_days_with_receipts(world: World) -> None:
    setup_menu(world)
    ids = lunch_day(world)
    with WalletServer() as wallet:
        wallet.reject(UUID(ids["discounted"]), "already_registered")
        await send(world, wallet)
    # Wednesday: CHILD's lunch is not sent yet, and a claim from before the adapter has no record at all
    wednesday = event(
        5,
        kind="meal",
        person_id=str(world.ids[CHILD]),
        reason="on_roster",
        meal=meal("free", 0),
        at=f"{NEXT_DAY}T12:20:00+05:00",
    )
    ingest(world, [wednesday])
    with world.app.state.engine.begin() as conn:
        other = conn.execute(
            select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, OTHER_CHILD)))
        ).scalar_one()
        conn.execute(
            insert(free_meals).values(
                school_id="s1",
                person_id=other,
                local_date=date.fromisoformat(NEXT_DAY),
                period="lunch",
                event_id=UUID("0190a000-0000-7000-8000-000000000001"),
                category="free",
                price_tiyn=0,
            )
        )
        tabel = {c.person_id: c for c in monthly_tabel(conn, "s1", "2026-11")}
        assert monthly_tabel(conn, "s1", "2026-12") == [] and monthly_tabel(conn, "s2", "2026-11") == []
    child, teen, late = tabel[world.ids[CHILD]], tabel[world.ids[TEEN]], tabel[other]
    assert [str(d) for d in child.meal_days] == [DAY, NEXT_DAY] and [str(d) for d in child.receipted_days] == [DAY]
    assert [str(d) for d in teen.meal_days] == [DAY] and teen.receipted_days == []
    assert [m.status for m in late.meals] == [MealStatus.MISSING]
    head = {**world.token("head@s1.kz"), "Accept-Language": "en"}
    lines = world.client.get("/v1/schools/s1/social-wallet/tabel?month=2026-11", headers=head).json()
    assert {(line["name"], len(line["meal_days"]), len(line["receipted_days"])) for line in lines} == {
        ("Нұрланова Әлия", 2, 1),
        ("Иванов Пётр", 1, 0),
        ("Ахметов Дана", 1, 0),
    }
    differences = world.client.get("/v1/schools/s1/social-wallet/differences?month=2026-11", headers=head).json()
    found = {(d["name"], d["day"], d["status"], d["reason"]) for d in differences}
    assert found == {
        ("Иванов Пётр", DAY, "rejected", "already_registered"),
        ("Нұрланова Әлия", NEXT_DAY, "pending", None),
        ("Ахметов Дана", NEXT_DAY, "missing", None),
    }
    assert {d["status_text"] for d in differences} >= {
        "refused by the Social Wallet",
        "never sent to the Social Wallet",
    }
    bad = world.client.get("/v1/schools/s1/social-wallet/tabel?month=2026-13", headers=head)
    assert bad.status_code == 422
    cook = world.token("cook@s1.kz")
    assert world.client.get("/v1/schools/s1/social-wallet/tabel?month=2026-11", headers=cook).status_code == 403


# -- the worker in the app, the settings, the contract ----------------------------------------------


def receipts_kept(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(wallet_receipts)).scalar_one())


def test_the_app_sends_in_the_background_and_stops_cleanly(settings: CloudSettings) -> None:
    with WalletServer() as wallet:
        configured = CloudSettings(
            database_url=settings.database_url,
            admin_token=ADMIN,
            social_wallet_url=wallet.url,
            social_wallet_public_key=wallet.public_key_text,
            social_wallet_interval_s=0.05,
        )
        app = create_app(configured)
        with TestClient(app) as client:
            with app.state.engine.begin() as conn:
                register_gateway(conn, "gw1", "s1", KEY)
                import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
                child = conn.execute(
                    select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, CHILD)))
                ).scalar_one()
            body = batch_body([event(1, kind="meal", person_id=str(child), reason="on_roster", meal=meal("free", 0))])
            assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
            deadline = time.monotonic() + 10
            # Delivered means the receipt is kept, not merely that the Wallet took it: a stop in between
            # leaves the record to be sent again, by design.
            while receipts_kept(app) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [r.student_iin for r in wallet.state.accepted.values()] == [CHILD]
            background = app.state.background
            assert "social-wallet" in background.names and background.rounds["social-wallet"] >= 1
        assert background.names == []  # stopped with the app
        assert receipts_kept(app) == 1


def test_without_a_wallet_url_no_worker_runs(client: TestClient) -> None:
    assert "social-wallet" not in client.app.state.background.names  # type: ignore[attr-defined]


def test_the_wallet_settings_are_checked_at_start_up() -> None:
    with pytest.raises(ValueError, match="PUBLIC_KEY is required"):
        CloudSettings(social_wallet_url="https://wallet.example")
    with pytest.raises(ValueError, match="Ed25519"):
        CloudSettings(social_wallet_url="https://wallet.example", social_wallet_public_key="not a key")


def test_the_committed_json_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run: python -m cloud_api.social_wallet.contract"


def test_a_receipt_verifies_only_unchanged_and_under_its_key() -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    record = UUID("0190a000-0000-7000-8000-000000000002")
    receipt = sign_receipt(key, record, "SW-1", datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    assert verify_receipt(key.public_key(), receipt)
    assert not verify_receipt(key.public_key(), receipt.model_copy(update={"receipt_id": "SW-2"}))
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_receipt(other, receipt)
    # the same instant written another way is the same signed text
    written = {**receipt.model_dump(mode="json"), "accepted_at": "2026-11-24T12:30:00+05:00"}
    reparsed = WalletReceipt.model_validate(written)
    assert verify_receipt(key.public_key(), reparsed)
