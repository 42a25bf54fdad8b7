"""The cloud ↔ National Education Database (NEDB, ҰБДҚ) exchange (Order No. 456 §§15-16), ours in one place.

The NEDB operator publishes no machine interface we can reach, so this module defines one; when
the operator publishes its contract, this is the module to change (with :mod:`.client`, which
speaks it). It depends on pydantic, ``cryptography`` and the standard library only, so the
simulator (:mod:`simulators.nedb`) imports it too.

Two requests, both for one organisation (the school's NEDB code)::

    GET  {nedb}/v1/organisations/{org}/roster-delta?since=<cursor>     → 200 RosterDelta
    POST {nedb}/v1/organisations/{org}/figures   <FiguresPacket>       → 200 FiguresAnswer

A roster delta lists what changed since the cursor the school holds (none: everything), each
record an upsert or a removal of a student, a staff member, a class, or a student's eligibility
(meal category); ``version`` is the cursor to ask from next and ``more`` says a next page waits.
The school keeps the cursor only once it has applied the page. A figures packet carries the
month's (or a day's) attendance and meal counts by class and category; the answer acknowledges or
refuses each record with a reason code. 429 / 5xx: not now (``Retry-After``); 401: our signature
was refused.

Authentication, both ways (``reference/003`` §§28-33: an unauthenticated packet is not processed):

- our request: ``X-NEDB-Client`` (our client id), ``X-NEDB-Timestamp`` (Unix seconds),
  ``X-NEDB-Signature`` = hex HMAC-SHA256 under the deployment's NEDB key of
  ``METHOD \\n PATH?QUERY \\n TIMESTAMP \\n hex(SHA-256(body))`` (the gateways' scheme);
- its answer: ``X-NEDB-Timestamp`` and ``X-NEDB-Signature`` = base64 Ed25519 under the NEDB's key of
  ``STATUS \\n REQUEST-SIGNATURE \\n TIMESTAMP \\n hex(SHA-256(body))``: bound to our request, so an
  old answer cannot be replayed for a new question, and verifiable later by anyone with the public
  key (the journal keeps both).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FIGURES_PATH",
    "HEADER_CLIENT",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MAX_RECORDS",
    "PULL_PATH",
    "FigureRecord",
    "FigureRefusal",
    "FigureVerdict",
    "FiguresAnswer",
    "FiguresPacket",
    "Operation",
    "RecordKind",
    "RosterDelta",
    "RosterRecord",
    "answer_signing_bytes",
    "figures_path",
    "load_public_key",
    "public_key_text",
    "pull_path",
    "request_signing_bytes",
    "sign_answer",
    "sign_request",
    "verify_answer",
    "verify_request",
]

PULL_PATH = "/v1/organisations/{org}/roster-delta"
FIGURES_PATH = "/v1/organisations/{org}/figures"
HEADER_CLIENT = "X-NEDB-Client"
HEADER_TIMESTAMP = "X-NEDB-Timestamp"
HEADER_SIGNATURE = "X-NEDB-Signature"
# A page of a delta or a packet of figures: a big school's roster (about 5,000 people) in one or two.
MAX_RECORDS = 5000

Text = Field(default=None, max_length=200)


class Operation(StrEnum):
    """What a roster record does."""

    UPSERT = "upsert"
    REMOVE = "remove"


class RecordKind(StrEnum):
    """What a roster record is about."""

    STUDENT = "student"
    STAFF = "staff"
    CLASS = "class"  # a class of the school (its name): students may only be in a class the school has
    ELIGIBILITY = "eligibility"  # a student's meal category alone (a social status granted or ended)


class RosterRecord(BaseModel):
    """One change of the NEDB's roster of a school. Its fields are checked by the importer, not here:
    a bad IIN is a refused record with a reason, never a refused delta."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    record_id: str = Field(min_length=1, max_length=64, description="The NEDB's id of this change.")
    op: Operation
    kind: RecordKind
    iin: str | None = Field(default=None, max_length=32)
    last_name: str | None = Text
    first_name: str | None = Text
    middle_name: str | None = Text
    class_name: str | None = Field(default=None, max_length=16, description='Students and classes: "3Б".')
    language: str | None = Field(default=None, max_length=8)
    meal_category: str | None = Field(default=None, max_length=16, description="free | discounted | paid")
    discount_percent: int | None = Field(default=None, ge=0, le=100)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200)


class RosterDelta(BaseModel):
    """A page of what changed in a school's roster since a cursor."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    organisation: str = Field(min_length=1, max_length=32)
    since: str | None = Field(default=None, max_length=64, description="The cursor asked from (none: everything).")
    version: str = Field(min_length=1, max_length=64, description="The cursor to ask from next.")
    more: bool = Field(default=False, description="Another page waits: ask again from ``version``.")
    records: list[RosterRecord] = Field(default_factory=list, max_length=MAX_RECORDS)


class FigureRecord(BaseModel):
    """One count the NEDB collects: a class's or a category's figures for the period (or a day of it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str = Field(min_length=1, max_length=96, examples=["meals/3А/free", "attendance/2026-11-05"])
    measure: Literal["meals", "attendance"]
    day: date | None = None
    class_name: str | None = Field(default=None, max_length=16)
    category: str | None = Field(default=None, max_length=16)
    values: dict[str, int] = Field(description="Counts: students, portions, student_days, present, absent…")


class FiguresPacket(BaseModel):
    """A school's figures for a month (``YYYY-MM``) or a day (``YYYY-MM-DD``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    packet_id: UUID = Field(description="Stable id of this packet: sent again unchanged, it is the same packet.")
    organisation: str = Field(min_length=1, max_length=32)
    kind: Literal["monthly", "daily"]
    period: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    records: list[FigureRecord] = Field(max_length=MAX_RECORDS)


class FigureRefusal(StrEnum):
    """Why the NEDB refuses a figure; a code it sends that is not here is shown as ``other``."""

    UNKNOWN_CLASS = "unknown_class"  # the NEDB has no such class at the school
    INCONSISTENT = "inconsistent"  # the counts contradict each other or the NEDB's roster
    PERIOD_CLOSED = "period_closed"  # the NEDB no longer takes figures of this period
    INVALID_RECORD = "invalid_record"
    OTHER = "other"


class FigureVerdict(BaseModel):
    """The NEDB's answer about one figure."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    record_id: str = Field(min_length=1, max_length=96)
    status: Literal["acknowledged", "refused"]
    reason: str | None = Field(default=None, max_length=64)
    message: str = Field(default="", max_length=500)


class FiguresAnswer(BaseModel):
    """The NEDB's answer to a figures packet: a verdict for each record."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    packet_id: UUID
    verdicts: list[FigureVerdict] = Field(max_length=MAX_RECORDS)


def pull_path(org: str) -> str:
    """The path of an organisation's roster delta."""
    return PULL_PATH.format(org=org)


def figures_path(org: str) -> str:
    """The path an organisation's figures are posted to."""
    return FIGURES_PATH.format(org=org)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def request_signing_bytes(method: str, target: str, timestamp: str, body: bytes) -> bytes:
    """What a request's HMAC covers: method, path with its query, timestamp, the body's SHA-256."""
    return f"{method.upper()}\n{target}\n{timestamp}\n{_digest(body)}".encode()


def sign_request(key: bytes, method: str, target: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of :func:`request_signing_bytes` under the deployment's NEDB key."""
    return hmac.new(key, request_signing_bytes(method, target, timestamp, body), hashlib.sha256).hexdigest()


def verify_request(key: bytes, method: str, target: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of :func:`sign_request` (the NEDB's side)."""
    return hmac.compare_digest(sign_request(key, method, target, timestamp, body), signature)


def answer_signing_bytes(status: int, request_signature: str, timestamp: str, body: bytes) -> bytes:
    """What an answer's Ed25519 signature covers: status, the request's signature, timestamp, body's SHA-256."""
    return f"{status}\n{request_signature}\n{timestamp}\n{_digest(body)}".encode()


def sign_answer(key: Ed25519PrivateKey, status: int, request_signature: str, timestamp: str, body: bytes) -> str:
    """Base64 Ed25519 of :func:`answer_signing_bytes` (the NEDB's side)."""
    return base64.b64encode(key.sign(answer_signing_bytes(status, request_signature, timestamp, body))).decode()


def verify_answer(
    key: Ed25519PublicKey, status: int, request_signature: str, timestamp: str, body: bytes, signature: str
) -> bool:
    """Whether an answer was signed by the NEDB's key for our request ``request_signature``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, answer_signing_bytes(status, request_signature, timestamp, body))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_public_key(text: str) -> Ed25519PublicKey:
    """The NEDB's Ed25519 public key from settings: base64 of the raw 32 bytes, or PEM; ``ValueError`` if neither."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the NEDB's public key must be an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("the NEDB's public key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError("the NEDB's public key must be 32 bytes (Ed25519)")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    """``key`` as settings take it: base64 of its raw 32 bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
