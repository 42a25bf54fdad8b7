"""Canteen terminal messages over MQTT, sans-IO: tap payloads in, feedback payloads out.

Topics::

    mektep/{school}/{device}/tap                 terminal -> gateway, QoS 1
    mektep/{school}/{device}/feedback            gateway -> terminal, QoS 1
    mektep/{school}/{device}/status              retained "online" / "offline" (the terminal's Last Will)
    mektep/{school}/gateway/{gateway_id}/status  the gateway's own, retained, with its Last Will

A tap payload is a JSON object::

    {"tap_id": str 1-64, "credential": str 1-128, "kind": "mqtt_card" | "qr" (default mqtt_card),
     "at": ISO-8601 with offset (optional)}

A payload that is not a tap gets a :class:`TapError` whose ``code`` is one of ``too_large`` (over
:data:`MAX_PAYLOAD` bytes), ``not_json``, ``not_object``, ``missing_field:<name>`` or
``bad_field:<name>``; the code is counted and sent back to the terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.contract import CredentialKind

__all__ = [
    "KINDS",
    "MAX_PAYLOAD",
    "STATUS_OFFLINE",
    "STATUS_ONLINE",
    "Signal",
    "Tap",
    "TapError",
    "encode_feedback",
    "encode_tap",
    "gateway_status_topic",
    "parse_tap",
    "split_topic",
    "topic",
]

MAX_PAYLOAD = 4096
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
KINDS: dict[str, CredentialKind] = {"mqtt_card": CredentialKind.MQTT_CARD, "qr": CredentialKind.QR}


def topic(school: str, device: str, leaf: str) -> str:
    """``mektep/{school}/{device}/{leaf}`` (``leaf`` is ``tap``, ``feedback`` or ``status``)."""
    return f"mektep/{school}/{device}/{leaf}"


def gateway_status_topic(school: str, gateway_id: str) -> str:
    """The gateway's own retained status topic."""
    return f"mektep/{school}/gateway/{gateway_id}/status"


def split_topic(name: str) -> tuple[str, str, str] | None:
    """``(school, device, leaf)`` of a device topic, or None if it is not one."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "mektep" or not all(parts[1:]):
        return None
    return parts[1], parts[2], parts[3]


@dataclass(frozen=True, slots=True)
class Tap:
    """A tap as the terminal reported it."""

    tap_id: str
    credential: str
    kind: CredentialKind
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TapError:
    """Why a payload is not a tap; ``tap_id`` is kept when it could be read, to answer the terminal."""

    code: str
    tap_id: str | None = None

    @property
    def reason(self) -> str:
        """The counter name: the code without its field (``missing_field``, ``bad_field``, …)."""
        return self.code.split(":", 1)[0]


def _text(data: dict[str, Any], name: str, max_len: int) -> str | TapError:
    value = data.get(name)
    if value is None:
        return TapError(f"missing_field:{name}")
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        return TapError(f"bad_field:{name}")
    return value


def parse_tap(payload: bytes) -> Tap | TapError:
    """Parse a tap payload; never raises."""
    if len(payload) > MAX_PAYLOAD:
        return TapError("too_large")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; "[[[[…" nests too deep
        return TapError("not_json")
    if not isinstance(data, dict):
        return TapError("not_object")
    tap_id = _text(data, "tap_id", 64)
    if isinstance(tap_id, TapError):
        return tap_id
    credential = _text(data, "credential", 128)
    if isinstance(credential, TapError):
        return TapError(credential.code, tap_id)
    raw_kind = data.get("kind", "mqtt_card")
    kind = KINDS.get(raw_kind) if isinstance(raw_kind, str) else None
    if kind is None:
        return TapError("bad_field:kind", tap_id)
    at = None
    if data.get("at") is not None:
        try:
            at = datetime.fromisoformat(data["at"])
        except (TypeError, ValueError):
            return TapError("bad_field:at", tap_id)
        if at.tzinfo is None:  # a local time without its offset is ambiguous
            return TapError("bad_field:at", tap_id)
    return Tap(tap_id, credential, kind, at)


def encode_tap(tap_id: str, credential: str, kind: str = "mqtt_card", at: datetime | None = None) -> bytes:
    """The payload a terminal publishes (the simulators use it)."""
    data: dict[str, str] = {"tap_id": tap_id, "credential": credential, "kind": kind}
    if at is not None:
        data["at"] = at.isoformat()
    return json.dumps(data).encode()


class Signal(StrEnum):
    """How a terminal shows an answer beside its text: a colour and a sound, named not styled.

    The terminal maps them to its own screen and speaker; the gateway only says which.
    """

    GRANT = "grant"  # green, a short "ok" tone
    DENY = "deny"  # red, a long "error" tone
    ERROR = "error"  # amber: the tap itself was unreadable; ask to tap again


COLOURS = {Signal.GRANT: "green", Signal.DENY: "red", Signal.ERROR: "amber"}
SOUNDS = {Signal.GRANT: "ok", Signal.DENY: "deny", Signal.ERROR: "error"}


def encode_feedback(
    tap_id: str | None,
    *,
    ok: bool,
    granted: bool,
    reason: str,
    display: str,
    name: str | None = None,
    group: str | None = None,
) -> bytes:
    """The feedback payload a terminal shows.

    ``{"tap_id", "status": "ok"|"error", "granted", "reason", "display", "name", "class",
    "colour": "green"|"red"|"amber", "sound": "ok"|"deny"|"error"}``: ``display`` is already in
    the child's language, ``name`` and ``class`` are null when the gateway does not know them,
    and ``status: error`` means the tap was not understood (nothing was recorded).
    """
    signal = Signal.ERROR if not ok else Signal.GRANT if granted else Signal.DENY
    return json.dumps(
        {
            "tap_id": tap_id,
            "status": "ok" if ok else "error",
            "granted": granted,
            "reason": reason,
            "display": display,
            "name": name,
            "class": group,
            "colour": COLOURS[signal],
            "sound": SOUNDS[signal],
        },
        ensure_ascii=False,
    ).encode()
