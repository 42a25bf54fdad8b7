"""Canteen terminal messages over MQTT, sans-IO: tap payloads in, feedback payloads out.

Topics (DESIGN §3): ``mektep/{school}/{device}/tap`` (QoS 1), ``…/feedback`` (QoS 1) and
``…/status`` (retained, "online"/"offline" with a Last Will).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cloud_api.contract import CredentialKind

__all__ = ["MAX_PAYLOAD", "Tap", "TapError", "encode_feedback", "parse_tap", "topic"]

MAX_PAYLOAD = 4096
KINDS = {"mqtt_card": CredentialKind.MQTT_CARD, "qr": CredentialKind.QR}


def topic(school: str, device: str, leaf: str) -> str:
    """``mektep/{school}/{device}/{leaf}``."""
    return f"mektep/{school}/{device}/{leaf}"


@dataclass(frozen=True, slots=True)
class Tap:
    """A tap as the terminal reported it."""

    tap_id: str
    credential: str
    kind: CredentialKind
    at: datetime | None


@dataclass(frozen=True, slots=True)
class TapError:
    """Why a payload is not a tap (a short code, sent back to the terminal and counted)."""

    code: str
    tap_id: str | None = None


def parse_tap(payload: bytes) -> Tap | TapError:
    """Parse a tap payload ``{"tap_id", "credential", "kind"?, "at"?}``."""
    if len(payload) > MAX_PAYLOAD:
        return TapError("too_large")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return TapError("not_json")
    if not isinstance(data, dict):
        return TapError("not_object")
    tap_id = data.get("tap_id")
    if not isinstance(tap_id, str) or not 1 <= len(tap_id) <= 64:
        return TapError("missing_field:tap_id" if tap_id is None else "bad_field:tap_id")
    credential = data.get("credential")
    if credential is None:
        return TapError("missing_field:credential", tap_id)
    if not isinstance(credential, str) or not 1 <= len(credential) <= 128:
        return TapError("bad_field:credential", tap_id)
    kind = KINDS.get(data.get("kind", "mqtt_card"))
    if kind is None:
        return TapError("bad_field:kind", tap_id)
    at = None
    if "at" in data:
        try:
            at = datetime.fromisoformat(data["at"])
        except (TypeError, ValueError):
            return TapError("bad_field:at", tap_id)
    return Tap(tap_id, credential, kind, at)


def encode_feedback(tap_id: str | None, *, ok: bool, granted: bool, reason: str, display: str) -> bytes:
    """The feedback payload a terminal shows."""
    return json.dumps(
        {"tap_id": tap_id, "status": "ok" if ok else "error", "granted": granted, "reason": reason, "display": display},
        ensure_ascii=False,
    ).encode()
