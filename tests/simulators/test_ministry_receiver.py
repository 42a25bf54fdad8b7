"""The report receiver stand-in: verifies over real HTTP, receipts once per version, can be down."""

from __future__ import annotations

import base64

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_api.reports.manifest import build_manifest, new_private_key, sign_manifest
from cloud_api.reports.receiver_contract import DELIVERY_PATH, Delivery, encode_files
from simulators.ministry_receiver import ReceiverServer

FILES = {"meals.csv": b"day,free\n2026-10-01,412\n"}


def delivery(key: Ed25519PrivateKey, files: dict[str, bytes] = FILES, version: int = 1) -> dict[str, object]:
    manifest = build_manifest(FILES, report_id="s1/2026-10/meals", version=version)
    return Delivery(
        report_id="s1/2026-10/meals",
        subject="s1",
        month="2026-10",
        kind="meals",
        version=version,
        manifest=base64.b64encode(manifest).decode(),
        signature=sign_manifest(key, manifest),
        files=encode_files(files),
    ).model_dump()


def test_a_verified_delivery_gets_one_receipt_however_often_it_comes() -> None:
    key = new_private_key()
    with ReceiverServer(key.public_key()) as receiver:
        first = httpx.post(receiver.url + DELIVERY_PATH, json=delivery(key))
        again = httpx.post(receiver.url + DELIVERY_PATH, json=delivery(key))
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["receipt_id"] == again.json()["receipt_id"]
        assert len(receiver.state.deliveries) == 1


def test_a_tampered_file_or_a_foreign_key_is_refused_and_kept_nowhere() -> None:
    key = new_private_key()
    with ReceiverServer(key.public_key()) as receiver:
        tampered = httpx.post(receiver.url + DELIVERY_PATH, json=delivery(key, {"meals.csv": b"day,free\n"}))
        foreign = httpx.post(receiver.url + DELIVERY_PATH, json=delivery(new_private_key()))
        assert tampered.status_code == foreign.status_code == 422
        assert "meals.csv changed" in tampered.text and "signature" in foreign.text
        assert receiver.state.deliveries == [] and len(receiver.state.refused) == 2


def test_down_means_503_until_it_is_back() -> None:
    key = new_private_key()
    with ReceiverServer(key.public_key()) as receiver:
        receiver.state.down = True
        assert httpx.post(receiver.url + DELIVERY_PATH, json=delivery(key)).status_code == 503
        receiver.state.down = False
        assert httpx.post(receiver.url + DELIVERY_PATH, json=delivery(key)).status_code == 201
