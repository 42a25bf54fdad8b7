"""The Social Wallet stand-in over real HTTP: signed receipts once per record, and every way it misbehaves."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from cloud_api.social_wallet.contract import (
    IDEMPOTENCY_HEADER,
    REGISTRATIONS_PATH,
    MealRegistration,
    WalletCategory,
    WalletReceipt,
    WalletRejection,
    verify_receipt,
)
from mektep.wallet_bench import wallet_records_per_s
from simulators.social_wallet import WalletServer

ALMATY = timezone(timedelta(hours=5))


def registration(iin: str = "150319500124", **fields: Any) -> MealRegistration:
    values: dict[str, Any] = {
        "record_id": uuid.uuid4(),
        "student_iin": iin,
        "school_id": "s1",
        "served_at": datetime(2026, 11, 24, 12, 30, tzinfo=ALMATY),
        "meal_date": date(2026, 11, 24),
        "period": "lunch",
        "dishes": ["Палау"],
        "category": WalletCategory.FREE,
        "full_price_tiyn": 70000,
        "state_share_tiyn": 70000,
        **fields,
    }
    return MealRegistration(**values)


def post(wallet: WalletServer, record: MealRegistration, key: str | None = None, **options: Any) -> httpx.Response:
    headers = {IDEMPOTENCY_HEADER: key or str(record.record_id)}
    return httpx.post(wallet.url + REGISTRATIONS_PATH, json=record.model_dump(mode="json"), headers=headers, **options)


def test_a_record_is_accepted_once_and_a_repeat_gets_the_same_signed_receipt() -> None:
    with WalletServer() as wallet:
        record = registration()
        first, again = post(wallet, record), post(wallet, record)
        assert (first.status_code, again.status_code) == (201, 200)
        receipt = WalletReceipt.model_validate_json(first.content)
        assert receipt == WalletReceipt.model_validate_json(again.content)
        assert receipt.record_id == record.record_id and verify_receipt(wallet.public_key, receipt)
        assert wallet.state.accepted == {record.record_id: record} and wallet.state.duplicates == 1


def test_a_malformed_record_or_a_wrong_idempotency_key_is_rejected_as_invalid() -> None:
    with WalletServer() as wallet:
        record = registration()
        wrong_key = post(wallet, record, key=str(uuid.uuid4()))
        assert wrong_key.status_code == 422
        assert WalletRejection.model_validate_json(wrong_key.content).reason == "invalid_record"
        bad = httpx.post(wallet.url + REGISTRATIONS_PATH, json={"record_id": "x"})
        assert bad.status_code == 422 and bad.json()["reason"] == "invalid_record"
        assert wallet.state.accepted == {}


def test_fail_n_then_until_a_time_with_retry_after() -> None:
    now = [100.0]
    with WalletServer(clock=lambda: now[0]) as wallet:
        record = registration()
        wallet.fail(2)
        assert [post(wallet, record).status_code for _ in range(3)] == [503, 503, 201]
        wallet.fail(until=200.0, retry_after=60)
        down = post(wallet, record)
        assert down.status_code == 503 and down.headers["Retry-After"] == "60"
        now[0] = 200.0
        assert post(wallet, record).status_code == 200  # up again: the earlier receipt, once
        assert wallet.state.failed == 3 and len(wallet.state.accepted) == 1


def test_reject_by_id_or_predicate_and_the_same_answer_on_a_repeat() -> None:
    with WalletServer() as wallet:
        one, teen, fine = registration(), registration("100620600345"), registration()
        wallet.reject(one.record_id, "unknown_student")
        wallet.reject(lambda r: r.student_iin == "100620600345", "not_eligible", "no benefit")
        answers = [post(wallet, r) for r in (one, teen, fine, one)]
        assert [a.status_code for a in answers] == [422, 422, 201, 422]
        reasons = [WalletRejection.model_validate_json(a.content) for a in (answers[0], answers[1], answers[3])]
        assert [(r.record_id, r.reason) for r in reasons] == [
            (one.record_id, "unknown_student"),
            (teen.record_id, "not_eligible"),
            (one.record_id, "unknown_student"),
        ]
        assert reasons[1].message == "no benefit" and list(wallet.state.accepted) == [fine.record_id]


def test_answer_twice_loses_the_first_answer_and_repeats_the_receipt() -> None:
    with WalletServer() as wallet:
        wallet.answer_twice()
        record = registration()
        lost, repeat = post(wallet, record), post(wallet, record)
        assert (lost.status_code, repeat.status_code) == (503, 200)
        assert WalletReceipt.model_validate_json(repeat.content) == wallet.state.receipts[record.record_id]
        assert len(wallet.state.accepted) == 1 and wallet.state.duplicates == 1


def test_delay_holds_the_answer_and_forge_signs_with_a_stranger() -> None:
    with WalletServer() as wallet:
        wallet.delay(1.0)
        with pytest.raises(httpx.ReadTimeout):
            post(wallet, registration(), timeout=0.2)
        wallet.delay(0)
        wallet.forge()
        forged = WalletReceipt.model_validate_json(post(wallet, registration()).content)
        assert forged.public_key == wallet.public_key_text  # it names the genuine key...
        assert not verify_receipt(wallet.public_key, forged)  # ...and does not verify under it


def test_the_benchmark_sends_and_measures() -> None:
    assert wallet_records_per_s(40, concurrency=4) > 0


def test_a_refused_record_sent_again_corrected_is_judged_afresh() -> None:
    with WalletServer() as wallet:
        wrong = registration("100620600345")
        wallet.reject(lambda r: r.student_iin == "100620600345", "unknown_student")
        assert post(wallet, wrong).status_code == 422
        assert post(wallet, wrong).status_code == 422  # the same body: the same refusal
        corrected = wrong.model_copy(update={"student_iin": "150319500205"})
        assert post(wallet, corrected).status_code == 201  # same record id, the IIN corrected: accepted
        assert wallet.state.accepted[wrong.record_id].student_iin == "150319500205"
        assert wrong.record_id not in wallet.state.rejected
