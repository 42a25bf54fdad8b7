"""What the account and people routes take and show.

The ``*Public`` models list their fields one by one: a password hash, a token hash or an IIN added
to a table never reaches a response by accident. No model here carries an IIN at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from cloud_api.services.accounts import Role
from cloud_api.services.passwords import MAX_CHARS

__all__ = [
    "AccountCreate",
    "AccountPublic",
    "ChildPublic",
    "CodeBody",
    "ConsentIn",
    "GrantPublic",
    "PasswordChange",
    "PersonPublic",
    "RoleChange",
    "SessionInfo",
    "SessionPublic",
    "SignIn",
    "SignInFailure",
    "TotpConfirmed",
    "TotpEnrolment",
]


class SignIn(BaseModel):
    """A login (e-mail or phone) and its password."""

    login: str = Field(max_length=254, examples=["parent@example.kz"])
    password: str = Field(max_length=1024)
    code: str | None = Field(
        None,
        max_length=32,
        description="The second factor, where the account has one: the 6-digit code of the authenticator app, "
        "or one of the recovery codes.",
    )


class GrantPublic(BaseModel):
    """A role in force, in its scope (a school or region id; none for the ministry)."""

    role: Role
    scope: str | None


class AccountPublic(BaseModel):
    """An account as shown: never its password hash."""

    id: UUID
    login: str
    person_id: UUID | None
    school_id: str | None
    active: bool
    created_at: dt.datetime
    roles: list[GrantPublic]


class SessionPublic(BaseModel):
    """A new session: send ``token`` as ``Authorization: Bearer <token>``.

    ``stage`` is ``full``, or ``enrol`` for a staff member who has no second factor yet: that token is
    good only for `POST /v1/me/second-factor/totp` and its confirmation, which gives the full session.
    """

    token: str
    expires_at: dt.datetime
    stage: Literal["full", "enrol"] = "full"
    account: AccountPublic


class TotpEnrolment(BaseModel):
    """A new authenticator secret: scan ``uri`` as a QR code, or type ``secret``; then confirm with a code."""

    secret: str
    uri: str


class CodeBody(BaseModel):
    """A code from the authenticator app (6 digits)."""

    code: str = Field(min_length=6, max_length=32)


class TotpConfirmed(BaseModel):
    """Enrolled: keep the recovery codes (each works once); ``session`` replaces an enrolling one."""

    recovery_codes: list[str]
    session: SessionPublic | None = None


class SessionInfo(BaseModel):
    """One of your sessions, to recognise it: where and when it was opened, what it is."""

    id: str = Field(description="End it with `DELETE /v1/me/sessions/{id}`.")
    kind: Literal["staff", "device"]
    method: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    expires_at: dt.datetime
    ip: str | None
    user_agent: str | None
    current: bool


class PasswordChange(BaseModel):
    """One's own password change: the old one is required."""

    old_password: str = Field(max_length=1024)
    # The length, the login and common passwords are checked by the policy, with reasons it can say:
    # 8 characters for a family's account, 12 for staff.
    new_password: str = Field(max_length=MAX_CHARS)


class AccountCreate(BaseModel):
    """A new account; a school administrator may only create accounts of their own school."""

    login: str = Field(max_length=254, examples=["+77012345678"])
    password: str | None = Field(None, max_length=MAX_CHARS)
    school_id: str | None = Field(None, max_length=64)
    person_id: UUID | None = Field(None, description="The people row (of `school_id`) of a guardian or staff member.")


class RoleChange(BaseModel):
    """Grant (or, with ``granted: false``, revoke) a role in a scope."""

    role: Role
    scope: str | None = Field(None, max_length=64, description="A school or region id; none for the ministry.")
    granted: bool = Field(True, strict=True)


class SignInFailure(BaseModel):
    """A failed sign-in attempt."""

    login: str
    at: dt.datetime
    reason: str
    ip: str | None


class PersonPublic(BaseModel):
    """A person as shown to their school's staff and to their own guardians: no IIN, no contacts."""

    id: UUID
    school_id: str
    role: str
    last_name: str
    first_name: str
    middle_name: str | None
    class_name: str | None
    grade: int | None
    meal_category: str | None
    active: bool


class ChildPublic(PersonPublic):
    """One's own child, with the attendance-tracking consent in force."""

    consent: bool


class ConsentIn(BaseModel):
    """Give (true) or withdraw (false) consent to attendance tracking."""

    given: bool = Field(strict=True, description="true gives consent, false withdraws it; nothing else.")
