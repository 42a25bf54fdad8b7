"""The cloud's side of the Social Wallet's dynamic QR: vouchers from the Wallet, consent per method, the roster."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cloud_api.core.errors import DomainError
from cloud_api.services.consent import consent_history, consents_of, set_consent
from cloud_api.settings import CloudSettings
from cloud_api.social_wallet.vouchers import Refreshed, refresh_vouchers, vouchers_of
from device_drivers.base import CardRead, utcnow
from gateway.roster.store import apply, migrate
from gateway.taps.outbox import open_database
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, CredentialKind, sign
from shared.roster_contract import ROSTER_CONTRACT, ROSTER_PATH, RosterDelta
from shared.wallet_qr import public_key_text
from simulators.social_wallet import WalletServer
from tests.cloud_api.helpers import ADMIN, KEY
from tests.cloud_api.school import CHILD, MOTHER, TEACHER, TEEN, World
from tests.cloud_api.test_office import Office, text_of
from tests.cloud_api.test_office import office as office
from tests.cloud_api.test_parent_app import signed_in
from tests.cloud_api.test_roster_sync import school_with_a_canteen

ON_CITUS = ("test_the_gateway_gets_vouchers_qr_consent_and_the_key_when_it_asks_for_them",)
QR_KEY = Ed25519PrivateKey.generate()  # the Wallet's


@pytest.fixture
def settings(database_url: str) -> CloudSettings:
    """A deployment that knows the Wallet's QR key."""
    return CloudSettings(
        database_url=database_url,
        admin_token=ADMIN,
        push_workers=0,
        social_wallet_qr_public_key=public_key_text(QR_KEY.public_key()),
    )


def pull_body(client: TestClient, contract: int | None) -> bytes:
    path = f"{ROSTER_PATH}?since=0" + (f"&contract={contract}" if contract else "")
    ts = str(int(time.time()) + (contract or 0))  # pulls in one second: each its own signature
    headers = {HEADER_GATEWAY: "gw1", HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign(KEY.encode(), "GET", path, ts, b"")}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def test_the_gateway_gets_vouchers_qr_consent_and_the_key_when_it_asks_for_them(
    client: TestClient, tmp_path: Path
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    with WalletServer() as wallet:
        wallet.state.qr_key = QR_KEY
        with httpx.Client(base_url=wallet.url) as http:
            assert refresh_vouchers(engine, "s1", http, actor="operator") == Refreshed(asked=2, recorded=2, without=0)
            assert refresh_vouchers(engine, "s1", http, actor="operator") == Refreshed(0, 0, 0)  # none is asked twice
        voucher = wallet.voucher(CHILD)
        with engine.begin() as conn:
            assert vouchers_of(conn, "s1")[who[CHILD]] == voucher
            set_consent(conn, "s1", who[CHILD], who[MOTHER], True, actor="mother", method="qr")
        code = wallet.code(voucher)

    body = pull_body(client, ROSTER_CONTRACT)
    delta = RosterDelta.model_validate_json(body)
    by_id = {p.id: p for p in delta.people}
    child = by_id[who[CHILD]]
    assert (child.wallet_voucher_id, child.qr_consent, child.consent) == (voucher, True, False)
    assert by_id[who[TEEN]].wallet_voucher_id is not None and not by_id[who[TEEN]].qr_consent
    assert by_id[who[TEACHER]].wallet_voucher_id is None  # staff have no free-meal voucher
    assert delta.wallet_public_key == public_key_text(QR_KEY.public_key())

    # A gateway of an earlier release does not ask, and gets none of the fields it would refuse.
    old = json.loads(pull_body(client, None))
    assert "wallet_public_key" not in old and "contract" not in old
    assert not {"qr_consent", "wallet_voucher_id"} & {field for person in old["people"] for field in person}
    # One of contract 2 gets the kinds of dish it reads, and not the Wallet's.
    two = json.loads(pull_body(client, 2))
    assert two["contract"] == 2 and "wallet_public_key" not in two
    assert all("category_bans" in person and "qr_consent" not in person for person in two["people"])

    # The gateway that asked verifies the code the parent's app shows, offline, and knows the child.
    db = open_database(tmp_path / "gateway.db")
    migrate(db)
    policy = RosterPolicy(apply(db, delta, "s1"))
    canteen = AccessPoint("canteen-1", Place.CANTEEN)
    verdict = policy.decide(CardRead("canteen-1", code, CredentialKind.QR, utcnow()), canteen, "0" * 64)
    assert verdict.person_id == str(who[CHILD]) and verdict.reason in ("on_roster", "no_meal_period")


def test_consent_is_kept_per_method_with_its_history(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    child, mother = who[CHILD], who[MOTHER]
    with engine.begin() as conn:
        assert set_consent(conn, "s1", child, mother, True, actor="mother")  # the card, as ever
        assert set_consent(conn, "s1", child, mother, True, actor="mother", method="qr")
        assert not set_consent(conn, "s1", child, mother, True, actor="mother", method="qr")  # already so
        assert set_consent(conn, "s1", child, mother, False, actor="mother")  # the card withdrawn, not the QR
        with pytest.raises(DomainError) as refused:
            set_consent(conn, "s1", child, mother, True, actor="mother", method="face")  # type: ignore[arg-type]
        assert refused.value.code == "unknown_consent_method"
    with engine.connect() as conn:
        assert consents_of(conn, "s1", [child]) == {child: False}
        assert consents_of(conn, "s1", [child], "qr") == {child: True}
        assert consents_of(conn, "s1", [child], None) == {child: True}  # the push notices: either method
        history = consent_history(conn, "s1", child)
    assert [(row["method"], row["given"]) for row in history] == [("card", False), ("qr", True), ("card", True)]


def test_a_parent_consents_to_the_qr_code_and_not_the_card_on_the_childs_page(world: World) -> None:
    child = str(world.ids[CHILD])
    client = signed_in(world)
    client.post(f"/app/children/{child}/consent", data={"given": "true", "method": "qr"})
    page = client.get(f"/app/children/{child}").text
    card_part, qr_part = page.split("Идентификация по QR-коду «Социального кошелька»")
    assert "Согласие не дано" in card_part.split("Согласие на учёт посещения")[1]
    assert "Согласие дано" in qr_part and "Отозвать согласие на QR-код" in qr_part
    assert client.post(f"/app/children/{child}/consent", data={"given": "true", "method": "face"}).status_code == 422


def test_the_office_records_a_paper_consent_to_the_qr_code_apart_from_the_card(office: Office) -> None:
    child = office.id(CHILD)
    paper = {"guardian": str(office.id(MOTHER)), "given": "true", "signed_on": "2026-09-02", "reference": "№ 18"}
    done = office.post(f"/people/{child}/consent", {**paper, "method": "qr"})
    assert "Согласие записано." in done.text
    page = text_of(done.text)
    assert "Идентификационная карта: не запрашивалось" in page and "QR-код: дано" in page
    assert "QR-код: дано · Нұрланова" in page  # the history names the method
    assert office.post(f"/people/{child}/consent", {**paper, "method": "face"}).status_code == 422
    with office.app.state.engine.connect() as conn:
        assert consents_of(conn, "s1", [child]) == {} and consents_of(conn, "s1", [child], "qr") == {child: True}
