"""Canteen terminal payloads: every malformed tap gets a specific code, and parsing never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.mqtt_terminal.codec import (
    MAX_PAYLOAD,
    Tap,
    TapError,
    encode_feedback,
    encode_tap,
    gateway_status_topic,
    parse_tap,
    split_topic,
    topic,
)
from shared.contract import CredentialKind


def test_a_good_tap_and_its_defaults() -> None:
    assert parse_tap(b'{"tap_id": "t1", "credential": "CARD1"}') == Tap("t1", "CARD1", CredentialKind.MQTT_CARD)
    at = datetime(2026, 11, 20, 3, 1, tzinfo=UTC)
    assert parse_tap(encode_tap("t2", "QR-XYZ", "qr", at)) == Tap("t2", "QR-XYZ", CredentialKind.QR, at)
    assert parse_tap(b'{"tap_id": "t3", "credential": "C", "at": null, "extra": 1}') == Tap(
        "t3", "C", CredentialKind.MQTT_CARD
    )


@pytest.mark.parametrize(
    ("payload", "code", "tap_id"),
    [
        (b"", "not_json", None),
        (b"not json", "not_json", None),
        (b"\xff\xfe", "not_json", None),
        (b"[" * 4000, "not_json", None),  # nested too deep for the parser
        (b"[1, 2]", "not_object", None),
        (b'"tap"', "not_object", None),
        (b"{}", "missing_field:tap_id", None),
        (b'{"tap_id": null, "credential": "C"}', "missing_field:tap_id", None),
        (b'{"tap_id": 5, "credential": "C"}', "bad_field:tap_id", None),
        (b'{"tap_id": "", "credential": "C"}', "bad_field:tap_id", None),
        (json.dumps({"tap_id": "x" * 65, "credential": "C"}).encode(), "bad_field:tap_id", None),
        (b'{"tap_id": "t"}', "missing_field:credential", "t"),
        (b'{"tap_id": "t", "credential": 5}', "bad_field:credential", "t"),
        (b'{"tap_id": "t", "credential": true}', "bad_field:credential", "t"),
        (json.dumps({"tap_id": "t", "credential": "C" * 129}).encode(), "bad_field:credential", "t"),
        (b'{"tap_id": "t", "credential": "C", "kind": "em4100"}', "bad_field:kind", "t"),
        (b'{"tap_id": "t", "credential": "C", "kind": ["qr"]}', "bad_field:kind", "t"),
        (b'{"tap_id": "t", "credential": "C", "at": "yesterday"}', "bad_field:at", "t"),
        (b'{"tap_id": "t", "credential": "C", "at": 1700000000}', "bad_field:at", "t"),
        (b'{"tap_id": "t", "credential": "C", "at": "2026-11-20T08:00:00"}', "bad_field:at", "t"),
        (b"{" + b" " * MAX_PAYLOAD + b"}", "too_large", None),
    ],
)
def test_each_malformed_payload_has_its_code(payload: bytes, code: str, tap_id: str | None) -> None:
    assert parse_tap(payload) == TapError(code, tap_id)


def test_error_reason_is_the_counter_name() -> None:
    assert TapError("missing_field:credential").reason == "missing_field"
    assert TapError("not_json").reason == "not_json"


@given(st.binary(max_size=600))
def test_any_bytes_parse_without_raising(payload: bytes) -> None:
    assert isinstance(parse_tap(payload), Tap | TapError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
)


@given(json_values)
def test_any_json_parses_without_raising(value: object) -> None:
    assert isinstance(parse_tap(json.dumps(value).encode()), Tap | TapError)


def test_feedback_and_topics() -> None:
    who = {"name": "Әлия Н.", "group": "3Б"}
    payload = encode_feedback("t1", ok=True, granted=True, reason="free_meal", display="Ас болсын", **who)
    data = json.loads(payload)
    assert data == {
        "tap_id": "t1",
        "status": "ok",
        "granted": True,
        "reason": "free_meal",
        "display": "Ас болсын",
        "name": "Әлия Н.",
        "class": "3Б",
        "colour": "green",
        "sound": "ok",
    }
    denied = json.loads(encode_feedback("t2", ok=True, granted=False, reason="allergen", display="Тыйым салынды"))
    assert (denied["colour"], denied["sound"], denied["name"], denied["class"]) == ("red", "deny", None, None)
    error = json.loads(encode_feedback(None, ok=False, granted=False, reason="not_json", display=""))
    assert error["status"] == "error" and error["tap_id"] is None and error["colour"] == "amber"
    assert topic("s1", "canteen-1", "tap") == "mektep/s1/canteen-1/tap"
    assert gateway_status_topic("s1", "gw-1") == "mektep/s1/gateway/gw-1/status"
    assert split_topic("mektep/s1/canteen-1/tap") == ("s1", "canteen-1", "tap")
    assert split_topic("mektep/s1/gateway/gw-1/status") is None
    assert split_topic("other/s1/canteen-1/tap") is None
