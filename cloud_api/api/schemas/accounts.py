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
    "AccountEdit",
    "AccountListed",
    "AccountPublic",
    "ActivationBatch",
    "ChildPublic",
    "CodeActivation",
    "CodeBody",
    "ConsentIn",
    "ForgotPassword",
    "GrantHistory",
    "GrantPublic",
    "LetterPublic",
    "OneTimeCode",
    "PasswordChange",
    "PersonPublic",
    "RoleChange",
    "SessionInfo",
    "SessionPublic",
    "SignIn",
    "SignInFailure",
    "SkippedPerson",
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
    """One's own child, with the attendance-tracking consent in force, per identification method."""

    consent: bool = Field(description="Consent to tracking by the ID card (the consent to tracking itself).")
    qr_consent: bool = Field(False, description="Consent to identification by the Social Wallet's dynamic QR code.")


class ConsentIn(BaseModel):
    """Give (true) or withdraw (false) consent to attendance tracking."""

    given: bool = Field(strict=True, description="true gives consent, false withdraws it; nothing else.")
    method: Literal["card", "qr"] = Field(
        "card", description="The identification method consented to: the ID card, or the Social Wallet's QR code."
    )


class AccountListed(BaseModel):
    """An account in a list: who it is, its roles in force, whether it can sign in and has a second factor."""

    id: UUID
    login: str
    display_name: str | None
    email: str | None
    school_id: str | None
    person_id: UUID | None
    active: bool
    created_at: dt.datetime
    roles: list[GrantPublic]
    second_factor: bool


class AccountEdit(BaseModel):
    """What an administrator may change of an account; a field left out stays as it is ("" empties it)."""

    display_name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254, description="Where reset codes go when the login is a phone.")


class GrantHistory(BaseModel):
    """One change of a role grant: who granted or revoked which role in which scope, and when."""

    role: Role
    scope: str | None
    granted: bool
    by: str
    at: dt.datetime


class LetterPublic(BaseModel):
    """An activation letter: print it or send it; the code is shown only here."""

    account_id: UUID
    login: str
    name: str
    role: Literal["guardian", "student"]
    code: str
    link: str = Field(description="The activation page with the account and the code filled in (what the QR holds).")
    children: list[str]


class SkippedPerson(BaseModel):
    """A person of the roster who got no account: ``no_contact`` (no phone, no e-mail) or ``login_taken``."""

    person_id: UUID
    name: str
    reason: str


class ActivationBatch(BaseModel):
    """The accounts made from the roster, as letters, and who was left out."""

    letters: list[LetterPublic]
    skipped: list[SkippedPerson]


class OneTimeCode(BaseModel):
    """A reset code to hand to the account's owner: they choose their password with it."""

    code: str
    expires_at: dt.datetime
    link: str


class CodeActivation(BaseModel):
    """Choose a password with a one-time code (from an activation letter, an administrator or an e-mail)."""

    account_id: UUID
    code: str = Field(min_length=8, max_length=16)
    password: str = Field(min_length=8, max_length=MAX_CHARS, description="At least 8 characters; 12 for staff.")
    purpose: Literal["activation", "reset"] = "activation"


class ForgotPassword(BaseModel):
    """The login of an account whose password is forgotten."""

    login: str = Field(max_length=254)
