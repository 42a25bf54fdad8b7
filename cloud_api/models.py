"""What the API shows that is not the wire contract: public event rows, errors, health.

The ``*Public`` models list their fields one by one so that a column added to a table (a key, a
hash) never leaks into a response by accident.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cloud_api.contract import CredentialKind, Decision, EventKind, MealInfo

__all__ = ["ErrorDetail", "ErrorResponse", "EventPublic", "FieldError", "Health"]


class EventPublic(BaseModel):
    """An event as the admin API shows it: never a key, never the credential hash."""

    model_config = ConfigDict(
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
                    "occurred_at": "2026-11-20T08:01:12.345000+05:00",
                    "local_date": "2026-11-20",
                    "decision": "granted",
                    "reason": "known_reader",
                    "judged_without_roster": True,
                    "meal": None,
                    "received_at": "2026-11-20T03:01:13.120000Z",
                    "batch_id": 17,
                }
            ]
        }
    )

    id: UUID
    seq: int
    school_id: str
    gateway_id: str
    device_id: str
    kind: EventKind
    person_id: str | None
    credential_kind: CredentialKind | None
    occurred_at: dt.datetime = Field(description="The instant, shown with the offset the gateway recorded.")
    local_date: dt.date = Field(description="The day in Asia/Almaty the event belongs to.")
    decision: Decision
    reason: str
    judged_without_roster: bool
    meal: MealInfo | None
    received_at: dt.datetime = Field(description="When the cloud stored it (UTC).")
    batch_id: int = Field(description="The packet journal row of the batch that delivered it.")


class FieldError(BaseModel):
    """One field of a request that does not match the contract."""

    field: str = Field(examples=["events.3.occurred_at"])
    message: str = Field(examples=["Input should have timezone info"])


class ErrorDetail(BaseModel):
    """Why a request was refused: a stable ``code`` to act on, a ``message`` for people."""

    code: str = Field(examples=["bad_signature"])
    message: str
    errors: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every 401, 413 and 422 of the ingest."""

    detail: ErrorDetail


class Health(BaseModel):
    """The answer of ``/healthz``."""

    status: Literal["ok", "error"]
    database: str = Field(description="'ok', or the class of the error the database raised.")
