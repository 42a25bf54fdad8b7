"""The Social Wallet's dynamic QR code: what the canteen's scanner reads from a parent's phone.

**This contract is ours, not the operator's.** The Social Wallet (Әлеуметтік әмиян) and eGov
Mobile show a free-meal voucher as a QR code that changes every 30 seconds; the operator has not
published its format. This module is a plausible stand-in with the properties such a code needs,
kept in this one module so that the operator's own format replaces it here and nowhere else (see
"Swapping the contract" below).

A code is the text ``SWQR1.`` followed by the unpadded base64url of 84 bytes:

    voucher id   16 bytes  the child's voucher (a UUID the Wallet issues; no IIN, no name)
    counter       4 bytes  big-endian: Unix time // 30, the 30-second step it was made for (TOTP-like)
    signature    64 bytes  Ed25519 by the Wallet's key over b"SWQR1" + voucher id + counter

118 characters in all: a version 6 QR code at error correction M. The version is in the prefix,
so a second format can live beside the first. The signature is deterministic (Ed25519), so one
voucher makes one code per step: "each code is used once" is "each (voucher, step) is used once".
A gateway verifies a code offline, with the Wallet's public key alone:

- the signature (``qr_bad_signature``: a forged or altered code, or another key's);
- the time: the step may start at most :data:`SKEW_S` after the gateway's clock and end at most
  :data:`SKEW_S` before it (``qr_stale``: a screenshot, or a phone or gateway clock far off);
- the shape (``qr_malformed``: a ``SWQR1.`` text that does not decode to 84 bytes).

Whether a code was used before (``qr_replayed``) and whose voucher it is (``qr_unknown_voucher``)
are the gateway's to judge: they need its memory and its roster, not the contract.

In the real app the signing key would not sit on the phone: the Wallet's server signs a few
minutes of codes ahead and the app shows them in turn, which also keeps it working offline.
Our simulator (:mod:`simulators.social_wallet`) signs with the key directly.

Swapping the contract: keep the four names the gateway uses (:func:`is_wallet_code`,
:func:`verify` raising :class:`InvalidCode` with one of :class:`Problem`'s reasons, :class:`WalletCode`
with ``voucher_id`` and ``expires_at``, :func:`load_public_key`), and a new prefix for the new
format. Nothing else of the gateway or the cloud reads the code's bytes.

Depends on ``cryptography`` and the standard library only, like the other ``shared`` contracts.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "PREFIX",
    "SKEW_S",
    "STEP_S",
    "InvalidCode",
    "Problem",
    "WalletCode",
    "credential_of",
    "is_wallet_code",
    "issue",
    "load_public_key",
    "public_key_text",
    "verify",
]

PREFIX = "SWQR1."
STEP_S = 30  # a code is made for one 30-second step, as a TOTP is
SKEW_S = 60  # how far apart the phone's and the gateway's clocks may be
_DOMAIN = b"SWQR1"  # signed with the rest: a signature made for another format never verifies here
_BODY = struct.Struct(">16sI")
_SIGNATURE_LEN = 64
_RAW_LEN = _BODY.size + _SIGNATURE_LEN
_TEXT_LEN = len(PREFIX) + (_RAW_LEN * 4 + 2) // 3


class Problem(StrEnum):
    """Why a code was refused; the value is the reason the gateway records and counts."""

    MALFORMED = "qr_malformed"
    BAD_SIGNATURE = "qr_bad_signature"
    STALE = "qr_stale"


class InvalidCode(ValueError):
    """A code that does not verify; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class WalletCode:
    """A verified code: whose voucher, and the step it was made for."""

    voucher_id: UUID
    counter: int

    @property
    def starts_at(self) -> int:
        """Unix time the code's step starts."""
        return self.counter * STEP_S

    @property
    def expires_at(self) -> int:
        """Unix time after which no gateway accepts the code: it need not be remembered longer."""
        return self.starts_at + STEP_S + SKEW_S

    @property
    def key(self) -> str:
        """What identifies this one code: remembered to refuse it a second time."""
        return f"{self.voucher_id.hex}:{self.counter}"


def is_wallet_code(text: str) -> bool:
    """Whether a scanned text claims to be a Wallet code (the gateway then verifies it as one)."""
    return text.startswith(PREFIX)


def _message(voucher: bytes, counter: int) -> bytes:
    return _DOMAIN + _BODY.pack(voucher, counter)


def issue(private_key: Ed25519PrivateKey, voucher_id: UUID, at: float) -> str:
    """The code the Wallet app shows for ``voucher_id`` at Unix time ``at``."""
    counter = int(at) // STEP_S
    signature = private_key.sign(_message(voucher_id.bytes, counter))
    raw = _BODY.pack(voucher_id.bytes, counter) + signature
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> tuple[bytes, int, bytes]:
    if len(text) != _TEXT_LEN or not is_wallet_code(text):
        raise InvalidCode(Problem.MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(text[len(PREFIX) :] + "==")
    except (binascii.Error, ValueError) as exc:
        raise InvalidCode(Problem.MALFORMED) from exc
    if len(raw) != _RAW_LEN:
        raise InvalidCode(Problem.MALFORMED)
    voucher, counter = _BODY.unpack_from(raw)
    return voucher, counter, raw[_BODY.size :]


def credential_of(text: str) -> str:
    """What a code stands for as a credential: its voucher (stable for a child), else the text.

    The gateway hashes this, not the code, into the event's credential hash: the code changes every
    30 seconds, the voucher does not. Nothing is verified here.
    """
    try:
        voucher, _, _ = _decode(text)
    except InvalidCode:
        return text
    return f"wallet-voucher:{UUID(bytes=voucher)}"


def verify(public_key: Ed25519PublicKey, text: str, now: float) -> WalletCode:
    """The code ``text`` verified with the Wallet's key at Unix time ``now``; :class:`InvalidCode` if not.

    The signature is checked before the time, so that ``qr_stale`` is only said of a genuine code.
    """
    voucher, counter, signature = _decode(text)
    try:
        public_key.verify(signature, _message(voucher, counter))
    except InvalidSignature as exc:
        raise InvalidCode(Problem.BAD_SIGNATURE) from exc
    code = WalletCode(UUID(bytes=voucher), counter)
    if not code.starts_at - SKEW_S <= now < code.expires_at:
        raise InvalidCode(Problem.STALE)
    return code


def load_public_key(text: str) -> Ed25519PublicKey:
    """The Wallet's public key from its text form: base64 (or base64url) of the 32 raw bytes.

    The form the cloud's other Social Wallet key (its receipts') takes. ``ValueError`` when it is not one.
    """
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The text form of a public key (base64 of the raw bytes), as settings and the roster carry it."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
