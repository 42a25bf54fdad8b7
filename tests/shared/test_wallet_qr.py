"""The Social Wallet's dynamic QR contract: made by the Wallet, verified offline by a gateway."""

from __future__ import annotations

import base64
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.wallet_qr import (
    PREFIX,
    SKEW_S,
    STEP_S,
    InvalidCode,
    Problem,
    credential_of,
    is_wallet_code,
    issue,
    load_public_key,
    public_key_text,
    verify,
)

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
VOUCHER = uuid.UUID("0191e3b4-7c1a-7000-8000-00000000a11a")
T0 = 1_796_000_010.0  # 10 s into a step


def refused(text: str, now: float, key: Ed25519PublicKey = PUBLIC) -> Problem:
    with pytest.raises(InvalidCode) as caught:
        verify(key, text, now)
    return caught.value.problem


def test_a_code_verifies_with_the_wallets_key_and_names_the_voucher() -> None:
    code = issue(KEY, VOUCHER, T0)
    assert is_wallet_code(code) and code.startswith(PREFIX) and len(code) == 118
    assert set(code[len(PREFIX) :]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    verified = verify(PUBLIC, code, T0)
    assert verified.voucher_id == VOUCHER and verified.counter == int(T0) // STEP_S
    assert issue(KEY, VOUCHER, T0 + 5) == code  # one code per step
    assert issue(KEY, VOUCHER, T0 + STEP_S) != code  # and a new one the next
    assert issue(KEY, VOUCHER, T0 + STEP_S) != issue(KEY, uuid.uuid4(), T0 + STEP_S)


def test_the_time_window_is_the_step_and_a_minute_either_side() -> None:
    code = issue(KEY, VOUCHER, T0)
    starts = int(T0) // STEP_S * STEP_S
    assert verify(PUBLIC, code, starts - SKEW_S).counter  # the phone's clock a minute ahead
    assert verify(PUBLIC, code, starts + STEP_S + SKEW_S - 0.001).expires_at == starts + STEP_S + SKEW_S
    assert refused(code, starts - SKEW_S - 0.001) is Problem.STALE
    assert refused(code, starts + STEP_S + SKEW_S) is Problem.STALE
    assert refused(code, T0 + 3600) is Problem.STALE  # yesterday's screenshot, say


def test_a_tampered_code_or_another_key_fails_the_signature() -> None:
    code = issue(KEY, VOUCHER, T0)
    raw = bytearray(base64.urlsafe_b64decode(code[len(PREFIX) :] + "=="))
    raw[3] ^= 0x01  # another voucher
    tampered = PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert refused(tampered, T0) is Problem.BAD_SIGNATURE
    raw = bytearray(base64.urlsafe_b64decode(code[len(PREFIX) :] + "=="))
    raw[19] ^= 0x01  # a later step, to outlive its window
    assert refused(PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), T0) is Problem.BAD_SIGNATURE
    stranger = Ed25519PrivateKey.generate()
    assert refused(issue(stranger, VOUCHER, T0), T0) is Problem.BAD_SIGNATURE
    assert refused(code, T0, key=stranger.public_key()) is Problem.BAD_SIGNATURE
    # A stale forgery is called forged, not stale: the time is only read from a genuine code.
    assert refused(issue(stranger, VOUCHER, T0 - 3600), T0) is Problem.BAD_SIGNATURE


@pytest.mark.parametrize("text", [PREFIX, PREFIX + "A" * 112 + "=", PREFIX + "*" * 112, PREFIX + "A" * 111])
def test_a_text_with_the_prefix_that_is_no_code_is_malformed(text: str) -> None:
    assert refused(text, T0) is Problem.MALFORMED
    assert credential_of(text) == text


def test_the_credential_of_a_code_is_its_voucher_and_other_codes_stay_as_read() -> None:
    assert credential_of(issue(KEY, VOUCHER, T0)) == credential_of(issue(KEY, VOUCHER, T0 + 600))
    assert str(VOUCHER) in credential_of(issue(KEY, VOUCHER, T0))
    assert credential_of("STICKER-0042") == "STICKER-0042" and not is_wallet_code("STICKER-0042")


def test_the_public_key_reads_back_from_its_text_either_alphabet() -> None:
    text = public_key_text(PUBLIC)
    code = issue(KEY, VOUCHER, T0)
    assert verify(load_public_key(text), code, T0).voucher_id == VOUCHER
    url_safe = text.replace("+", "-").replace("/", "_").rstrip("=")
    assert verify(load_public_key(url_safe), code, T0).voucher_id == VOUCHER
    for bad in ("", "not a key", base64.b64encode(b"x" * 31).decode()):
        with pytest.raises(ValueError):
            load_public_key(bad)


def test_the_simulators_command_prints_a_code_that_verifies_with_the_key_it_prints() -> None:
    from typer.testing import CliRunner

    from simulators.cli import app

    result = CliRunner().invoke(app, ["wallet-code", "--voucher", str(VOUCHER)], env={"MEKTEP_SIM_WALLET_QR_KEY": ""})
    assert result.exit_code == 0, result.output
    public_line, _signing_line, code = result.output.strip().splitlines()
    assert public_line.startswith("MEKTEP_CLOUD_SOCIAL_WALLET_QR_PUBLIC_KEY=")
    assert verify(load_public_key(public_line.split("=", 1)[1]), code, time.time()).voucher_id == VOUCHER
