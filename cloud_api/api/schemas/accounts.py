"""What the account and people routes take and show.

The ``*Public`` models list their fields one by one: a password hash, a token hash or an IIN added
to a table never reaches a response by accident. No model here carries an IIN at all.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from pydantic import BaseModel, Field

from cloud_api.services.accounts import MIN_PASSWORD_CHARS, Role

__all__ = [
    "AccountCreate",
    "AccountPublic",
    "ChildPublic",
    "ConsentIn",
    "GrantPublic",
    "PasswordChange",
    "PersonPublic",
    "RoleChange",
    "SessionPublic",
    "SignIn",
    "SignInFailure",
]


class SignIn(BaseModel):
    """A login (e-mail or phone) and its password."""

    login: str = Field(max_length=254, examples=["parent@example.kz"])
    password: str = Field(max_length=1024)


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
    """A new session: send ``token`` as ``Authorization: Bearer <token>``."""

    token: str
    expires_at: dt.datetime
    account: AccountPublic


class PasswordChange(BaseModel):
    """One's own password change: the old one is required."""

    old_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=1024)


class AccountCreate(BaseModel):
    """A new account; a school administrator may only create accounts of their own school."""

    login: str = Field(max_length=254, examples=["+77012345678"])
    password: str | None = Field(None, min_length=MIN_PASSWORD_CHARS, max_length=1024)
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
