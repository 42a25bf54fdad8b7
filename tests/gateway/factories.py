"""Drafts as the pipeline makes them, for the outbox and forwarder tests."""

from __future__ import annotations

from typing import Any

import uuid_utils

from gateway.taps.drafts import Draft
from shared.contract import Decision, EventKind

__all__ = ["draft", "drafts"]


def draft(device: str = "r1", ref: str | None = None, **fields: Any) -> Draft:
    """A granted entry at ``device`` of school s1, gateway gw1; ``fields`` override."""
    values: dict[str, Any] = {
        "id": str(uuid_utils.uuid7()),
        "school_id": "s1",
        "gateway_id": "gw1",
        "device_id": device,
        "kind": EventKind.ENTRY,
        "occurred_at": "2026-11-20T08:00:00+05:00",
        "decision": Decision.GRANTED,
        "reason": "no_roster",
        "ref": ref,
        **fields,
    }
    return Draft(**values)


def drafts(n: int, device: str = "r1") -> list[Draft]:
    """``n`` fresh drafts at ``device``."""
    return [draft(device) for _ in range(n)]
