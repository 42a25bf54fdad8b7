"""A school's events as the API shows them: never a key, never a card's hash.

The ``*Public`` models list their fields one by one so that a column added to a table (a key, a
hash) never leaks into a response by accident.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.contract import CredentialKindName, Decision, Event, EventKind, ManualEntry, MealInfo

__all__ = ["EventPublic"]


# The contract's own example, as the admin API shows it: without the hash, with what ingest adds.
_PUBLIC_EXAMPLE = {
    **{k: v for k, v in Event.model_json_schema()["examples"][0].items() if k != "credential_hash"},
    "local_date": "2026-11-20",
    "received_at": "2026-11-20T03:01:13.120000Z",
    "batch_id": 17,
}


class EventPublic(BaseModel):
    """An event as the admin API shows it: never a key, never the credential hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PUBLIC_EXAMPLE]})

    id: UUID
    seq: int
    school_id: str
    gateway_id: str
    device_id: str
    kind: EventKind
    person_id: str | None
    credential_kind: CredentialKindName | None
    occurred_at: dt.datetime = Field(description="The instant, shown with the offset the gateway recorded.")
    local_date: dt.date = Field(description="The day in Asia/Almaty the event belongs to.")
    decision: Decision
    reason: str
    judged_without_roster: bool
    meal: MealInfo | None
    manual: ManualEntry | None = Field(default=None, description="Who entered it by hand at a screen, and why.")
    reason_detail: Annotated[list[str], BeforeValidator(lambda v: v or [])] = Field(  # NULL: nothing named
        default_factory=list,
        description="What the reason names, as codes: the forbidden allergens or kinds of dish a refused meal held.",
    )
    received_at: dt.datetime = Field(description="When the cloud stored it (UTC).")
    batch_id: int = Field(description="The packet journal row of the batch that delivered it.")
