"""Who is signed in at the app's door (``/app/``): a guardian or a student, in which language.

Both open the same door: the parent app's pages need a guardian, the student's pages a student,
and ``/app/`` shows each their own home (:mod:`cloud_api.web.app_home`). One dependency reads the
session once, rotates its token when due, and says which of the two it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from cloud_api.api.deps import SESSION_COOKIE, client_ip
from cloud_api.push.subscriptions import notice_settings
from cloud_api.services.accounts import Principal, Role, session_principal
from cloud_api.services.people import find_person
from cloud_api.services.sessions import rotate_if_due
from cloud_api.web.pages import LANG_COOKIE, SignInNeeded
from shared.i18n import LANGUAGES, Translator, translator

__all__ = ["Visitor", "VisitorDep", "visitor"]


@dataclass(frozen=True)
class Visitor:
    """The signed-in guardian or student: their account, person, school, role and translator."""

    principal: Principal
    token: str
    account_id: UUID
    person_id: UUID
    school_id: str
    role: Role  # Role.GUARDIAN or Role.STUDENT
    _: Translator

    @property
    def student(self) -> bool:
        """Whether the signed-in account is a student's (else a guardian's)."""
        return self.role is Role.STUDENT


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _language(conn: Connection, account_id: UUID, school_id: str, person_id: UUID, signed_in_with: str | None) -> str:
    # The language set in the settings, else the one the sign-in page was read in, else the roster's.
    chosen = notice_settings(conn, account_id).language
    person = find_person(conn, school_id, person_id)
    roster = person["language"] if person else None
    picked = signed_in_with if signed_in_with in LANGUAGES else None
    return str(chosen or picked or roster or "kk")


def visitor(request: Request) -> Visitor:
    """The signed-in guardian or student; :class:`SignInNeeded` for anyone else (and for no session)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInNeeded
    with _engine(request).begin() as conn:  # a session's last-seen time is written now and then
        principal = session_principal(conn, token)
        account = principal.account if principal else None
        if principal is None or account is None or account.school_id is None or account.person_id is None:
            raise SignInNeeded
        # A guardian first: an account is a family's one way or the other, never both in practice.
        role = next((r for r in (Role.GUARDIAN, Role.STUDENT) if principal.has(r, account.school_id)), None)
        if role is None:
            raise SignInNeeded
        language = _language(conn, account.id, account.school_id, account.person_id, request.cookies.get(LANG_COOKIE))
        # A family's phone keeps its session for 30 days, with a new token each day it is used.
        rotated = rotate_if_due(conn, token, datetime.now(UTC), ip=client_ip(request))
    if rotated is not None:
        request.state.rotated = rotated
        token = rotated.token
    return Visitor(principal, token, account.id, account.person_id, account.school_id, role, translator(language))


VisitorDep = Annotated[Visitor, Depends(visitor)]
