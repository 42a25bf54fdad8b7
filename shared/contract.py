"""The gateway ↔ cloud wire contract: event records, ingest batches and their signature.

Both sides import this module and nothing else of each other, so a change to the contract is a
change in one place. It depends on pydantic and the standard library only: importing it must not
pull in FastAPI, SQLAlchemy or any driver.

Signing: the gateway signs each request with its own key,

    HMAC-SHA256(key, METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" hex(SHA-256(body)))

and sends the result in ``X-Mektep-Signature`` (hex) with ``X-Mektep-Gateway`` and
``X-Mektep-Timestamp`` (Unix seconds). The cloud verifies before it parses the body, refuses a
timestamp outside its skew window and refuses a signature it has already seen (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "BACKLOG_MAX_AGE_S",
    "CLOCK_OFFSET_MAX_S",
    "DISK_FREE_MIN_RATIO",
    "HEADER_GATEWAY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "HEARTBEAT_PATH",
    "INGEST_PATH",
    "MANUAL_REASON_MAX",
    "MAX_BATCH_EVENTS",
    "Batch",
    "BatchResult",
    "Category",
    "CredentialKind",
    "CredentialKindName",
    "Decision",
    "Event",
    "EventKind",
    "EventResult",
    "Heartbeat",
    "HeartbeatAnswer",
    "ManualEntry",
    "MealInfo",
    "PartState",
    "ResultStatus",
    "credential_hash",
    "heartbeat_path",
    "is_known_kind",
    "sign",
    "signature_base",
    "signed_headers",
    "troubles",
    "verify",
]

INGEST_PATH = "/v1/ingest/batches"
HEARTBEAT_PATH = "/v1/gateways/{gateway}/heartbeat"  # {gateway}: the signing gateway's id
HEADER_GATEWAY = "X-Mektep-Gateway"
HEADER_TIMESTAMP = "X-Mektep-Timestamp"
HEADER_SIGNATURE = "X-Mektep-Signature"
MAX_BATCH_EVENTS = 1000
MANUAL_REASON_MAX = 200

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class EventKind(StrEnum):
    """What happened at a device."""

    ENTRY = "entry"
    EXIT = "exit"
    MEAL = "meal"
    DENIED = "denied"
    DEVICE_STATUS = "device_status"


class Decision(StrEnum):
    """What the gateway decided on the spot."""

    GRANTED = "granted"
    DENIED = "denied"
    RECORDED = "recorded"  # no decision to take (a device status, a count without identity)


class CredentialKind(StrEnum):
    """How the person identified themselves; recorded with the event."""

    EM4100 = "em4100"
    WIEGAND = "wiegand"
    OSDP = "osdp"
    QR = "qr"
    MQTT_CARD = "mqtt_card"
    MANUAL = "manual"


_KNOWN_KINDS = frozenset(kind.value for kind in CredentialKind)

# A gateway may ship a reader protocol before the cloud knows its name (and a cloud a card kind
# before an old gateway does): the other side keeps the name as text rather than refusing the
# event, which would set every tap at that reader aside. A known name still becomes the enum.
CredentialKindName = Annotated[
    CredentialKind | Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
    Field(
        union_mode="left_to_right", description="A `CredentialKind`, or the name of one this side does not know yet."
    ),
]


def is_known_kind(kind: str) -> bool:
    """Whether this version of the contract names the credential kind ``kind``."""
    return kind in _KNOWN_KINDS


class Category(StrEnum):
    """How a meal is paid for (Order No. 456 §33-1.2)."""

    FREE = "free"
    DISCOUNTED = "discounted"
    PAID = "paid"


class MealInfo(BaseModel):
    """The meal part of an event: the period, how it is paid and what was served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: str = Field(min_length=1, max_length=32, examples=["lunch"])
    category: Category
    dishes: list[str] = Field(default_factory=list, max_length=20)
    price_tiyn: int = Field(ge=0, description="Price charged, in tiyn (1/100 tenge).")


class ManualEntry(BaseModel):
    """Who entered an event by hand at a screen (a child who forgot the card), and why: the audit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    staff_id: str = Field(min_length=1, max_length=64, description="The roster id of the staff member.")
    reason: str = Field(min_length=1, max_length=MANUAL_REASON_MAX, examples=["forgot the card"])


class Event(BaseModel):
    """One immutable record of something that happened at a school's device.

    The id is a UUIDv7 made at the gateway; ``seq`` is the gateway's own strictly increasing
    number. ``credential_hash`` is a keyed hash of the card number: the raw number never leaves
    the gateway.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0192f3c4-5e6a-7b8c-9d0e-1f2a3b4c5d6e",
                    "seq": 42,
                    "school_id": "demo-school",
                    "gateway_id": "gw-demo-1",
                    "device_id": "turnstile-1",
                    "kind": "entry",
                    "person_id": None,
                    "credential_kind": "em4100",
                    "credential_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "occurred_at": "2026-11-20T08:01:12.345+05:00",
                    "decision": "granted",
                    "reason": "known_reader",
                    "judged_without_roster": True,
                    "meal": None,
                }
            ]
        },
    )

    id: UUID
    seq: int = Field(ge=1)
    school_id: Identifier
    gateway_id: Identifier
    device_id: Identifier
    kind: EventKind
    person_id: str | None = Field(default=None, max_length=64)
    credential_kind: CredentialKindName | None = None
    credential_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    occurred_at: AwareDatetime = Field(description="Local time with its UTC offset.")
    decision: Decision
    reason: str = Field(max_length=64)
    judged_without_roster: bool = False
    meal: MealInfo | None = None
    manual: ManualEntry | None = Field(default=None, description="Set when staff entered the event by hand.")
    reason_detail: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=list,
        max_length=20,
        description="What the reason names, as codes: the forbidden allergens or kinds of dish a refused meal held. "
        "Sent only when there is any, so that other events stay as earlier releases sent them.",
    )


class Batch(BaseModel):
    """What the gateway sends in one signed request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "gateway_id": "gw-demo-1",
                    "sent_at": "2026-11-20T08:01:13+05:00",
                    "events": [Event.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                }
            ]
        },
    )

    gateway_id: Identifier
    sent_at: AwareDatetime
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class ResultStatus(StrEnum):
    """The cloud's answer for one event. Accepted and duplicate both mean "delivered"."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class EventResult(BaseModel):
    """The cloud's answer for one event of a batch."""

    id: UUID
    status: ResultStatus
    reason: str | None = None


class BatchResult(BaseModel):
    """The cloud's answer for a whole batch: one result per event, in the batch's order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": 17,
                    "received_at": "2026-11-20T03:01:13.120000Z",
                    "results": [
                        {"id": "0192f3c4-5e6a-7b8c-9d0e-1f2a3b4c5d6e", "status": "accepted"},
                    ],
                }
            ]
        }
    )

    batch_id: int
    received_at: datetime
    results: list[EventResult]


class PartState(StrEnum):
    """How one part of a gateway stands, as its heartbeat and its metrics say."""

    OK = "ok"
    FAILING = "failing"  # running, but its last attempt failed (the cloud did not answer)
    OFFLINE = "offline"  # a reader's link is down
    STOPPED = "stopped"  # its task ended: the gateway must be restarted
    OFF = "off"  # not configured on this gateway (no local pages)


PartName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Bytes = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Heartbeat(BaseModel):
    """A gateway's figures, signed and sent every minute; not an event: never in the outbox or reports.

    Ratios are 0..1; ages, offsets and uptimes are seconds. ``clock_offset_s`` is the gateway's own
    estimate of its clock minus the cloud's (from the cloud's last answer), None before any.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "gateway_id": "gw-demo-1",
                    "sent_at": "2026-11-20T08:01:00.120+05:00",
                    "version": "0.1.0",
                    "uptime_s": 86400.0,
                    "cpu_ratio": 0.07,
                    "memory_used_bytes": 812_000_000,
                    "memory_total_bytes": 4_000_000_000,
                    "disk_free_bytes": 50_000_000_000,
                    "disk_free_ratio": 0.41,
                    "net_sent_bytes": 120_000_000,
                    "net_received_bytes": 340_000_000,
                    "links": {"eth0": True},
                    "parts": {"link:turnstile-1": "ok", "forwarder": "ok", "roster_sync": "ok", "pages": "ok"},
                    "outbox_pending": 0,
                    "outbox_rejected": 0,
                    "oldest_pending_age_s": None,
                    "clock_offset_s": 0.012,
                }
            ]
        },
    )

    gateway_id: Identifier
    sent_at: AwareDatetime = Field(description="The gateway's clock when it sent the heartbeat.")
    version: str = Field(min_length=1, max_length=64, description="The gateway software's version.")
    uptime_s: float = Field(ge=0)
    cpu_ratio: float = Field(ge=0, le=1, description="The host's CPU use since the last sample.")
    memory_used_bytes: Bytes
    memory_total_bytes: Bytes
    disk_free_bytes: Bytes = Field(description="Free space on the outbox's filesystem.")
    disk_free_ratio: float = Field(ge=0, le=1)
    net_sent_bytes: Bytes = Field(description="Bytes sent by every interface but loopback since boot.")
    net_received_bytes: Bytes
    links: dict[PartName, bool] = Field(default_factory=dict, max_length=64, description="Network interface -> up.")
    parts: dict[PartName, PartState] = Field(default_factory=dict, max_length=256)
    outbox_pending: int = Field(ge=0, description="Events not yet delivered to the cloud.")
    outbox_rejected: int = Field(ge=0, description="Events the cloud refused (kept for the admin).")
    oldest_pending_age_s: float | None = Field(default=None, ge=0, description="Age of the oldest undelivered event.")
    clock_offset_s: float | None = Field(default=None, description="The gateway's clock minus the cloud's.")


# The limits past which the cloud's alert rules and fleet pages call a gateway's figure trouble
# (cloud_api/alerts/rules.py, cloud_api/services/fleet.py). A gateway sends a heartbeat at once when
# its troubles change, rather than with the next minute's: an alert then waits for its rule's window
# only, not for a heartbeat too.
DISK_FREE_MIN_RATIO = 0.15
BACKLOG_MAX_AGE_S = 3600.0
CLOCK_OFFSET_MAX_S = 2.0


def troubles(beat: Heartbeat) -> frozenset[str]:
    """What is wrong in ``beat`` by those limits: each part not ok with its state, ``disk_low``,
    ``backlog_old``, ``clock_off``."""
    found = {f"{part}={state}" for part, state in beat.parts.items() if state not in (PartState.OK, PartState.OFF)}
    if beat.disk_free_ratio < DISK_FREE_MIN_RATIO:
        found.add("disk_low")
    if beat.oldest_pending_age_s is not None and beat.oldest_pending_age_s > BACKLOG_MAX_AGE_S:
        found.add("backlog_old")
    if beat.clock_offset_s is not None and abs(beat.clock_offset_s) > CLOCK_OFFSET_MAX_S:
        found.add("clock_off")
    return frozenset(found)


class HeartbeatAnswer(BaseModel):
    """The cloud's answer to a heartbeat: its own clock, so that the gateway can tell its offset."""

    received_at: AwareDatetime = Field(description="The cloud's clock when the heartbeat arrived (UTC).")
    clock_offset_s: float = Field(description="The heartbeat's sent_at minus received_at, as the cloud saw it.")


def heartbeat_path(gateway_id: str) -> str:
    """The path a gateway's heartbeat is posted (and signed) to."""
    return HEARTBEAT_PATH.format(gateway=gateway_id)


def signature_base(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """The exact bytes that are signed: method, path, timestamp and the body's SHA-256."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{digest}".encode()


def sign(key: bytes, method: str, path: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of :func:`signature_base` under the gateway's key."""
    return hmac.new(key, signature_base(method, path, timestamp, body), hashlib.sha256).hexdigest()


def signed_headers(key: bytes, gateway_id: str, method: str, path: str, body: bytes, timestamp: str) -> dict[str, str]:
    """The three headers that sign a gateway's request (``path`` with its query string, if any)."""
    return {
        HEADER_GATEWAY: gateway_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(key, method, path, timestamp, body),
    }


def verify(key: bytes, method: str, path: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature made by :func:`sign`."""
    return hmac.compare_digest(sign(key, method, path, timestamp, body), signature)


def credential_hash(key: bytes, credential: str) -> str:
    """Keyed hash of a normalised card number or code; the raw value never leaves the gateway.

    Keyed (HMAC) because card numbers are short enough to brute-force a plain hash. The cloud
    holds the same key to map the cards it assigns to the hashes the gateway reports.
    """
    return hmac.new(key, credential.strip().upper().encode(), hashlib.sha256).hexdigest()
