"""What an outside system sends to and reads from ``/v1/oauth/token`` and ``/v1/integrations/...``.

The rows name a student by the school's person id (``student_id``) and never by an IIN; times are
the school's local time with its offset (Asia/Almaty); see :mod:`cloud_api.integrations.feeds` for
who is in each feed and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

__all__ = [
    "AttendanceDay",
    "MealServed",
    "MealsDay",
    "OAuthError",
    "Pass",
    "RosterPublic",
    "RosterStudent",
    "SchoolServed",
    "SchoolsServed",
    "StudentAttendance",
    "TokenResponse",
]


class TokenResponse(BaseModel):
    """An access token (RFC 6749 §5.1): send it as ``Authorization: Bearer <access_token>``."""

    access_token: str = Field(description="Opaque; kept by the cloud only as its SHA-256.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds it lasts (an hour).", examples=[3600])
    scope: str = Field(description="The scopes granted, space-separated.", examples=["attendance:read meals:read"])


class OAuthError(BaseModel):
    """A refused token request (RFC 6749 §5.2)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    error_description: str | None = None
    error_uri: str | None = None


class SchoolServed(BaseModel):
    """A school the system may read."""

    school_id: str
    name: str
    region_id: str | None


class SchoolsServed(BaseModel):
    """Every school the system may read now, and the scopes of its token."""

    scopes: list[str]
    schools: list[SchoolServed]


class Pass(BaseModel):
    """One granted entry or exit."""

    kind: Literal["entry", "exit"]
    at: dt.datetime = Field(description="Local time with offset.")


class StudentAttendance(BaseModel):
    """A consenting student's day: first entry, last exit, every pass (none: not at school)."""

    student_id: UUID
    class_name: str | None
    first_entry: dt.datetime | None
    last_exit: dt.datetime | None
    passes: list[Pass]


class AttendanceDay(BaseModel):
    """A school's (or a class's) attendance of one local day."""

    school_id: str
    date: dt.date
    class_name: str | None = None
    students: list[StudentAttendance]


class MealServed(BaseModel):
    """One meal served to a consenting student."""

    student_id: UUID
    class_name: str | None
    at: dt.datetime = Field(description="Local time with offset.")
    period: str = Field(examples=["lunch"])
    category: str = Field(description="free, discounted or paid", examples=["free"])
    dishes: list[str]


class MealsDay(BaseModel):
    """A school's (or a class's) meals of one local day."""

    school_id: str
    date: dt.date
    class_name: str | None = None
    meals: list[MealServed]


class RosterStudent(BaseModel):
    """An active student of the school, as the roster has them; never an IIN or a contact."""

    student_id: UUID
    last_name: str
    first_name: str
    middle_name: str | None
    class_name: str | None
    grade: int | None
    language: str | None


class RosterPublic(BaseModel):
    """The school's (or a class's) active students."""

    school_id: str
    class_name: str | None = None
    students: list[RosterStudent]
