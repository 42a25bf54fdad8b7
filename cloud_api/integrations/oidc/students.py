"""Who may sign in to a platform through Mektep, and what a platform may learn of them.

A student (an active account holding the ``student`` role at its school, on a student's people
row) of a school within the platform's reach. The claims are those of
:data:`cloud_api.integrations.clients.CLAIMS`; the IIN is never one of them, nor anything that
could stand in for it (a login, a phone, an e-mail, the people row's id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.schema import accounts, people, schools
from cloud_api.push.subscriptions import notice_settings
from cloud_api.services.accounts import Grant, Role, roles_in_force
from shared.i18n import LANGUAGES

__all__ = ["CLAIM_LABELS", "CLAIM_NAMES", "Student", "claims_of", "student_of"]

# How pages name each claim (msgids of the catalogs), in the order they list them.
CLAIM_LABELS = {
    "name": "Your name",
    "school": "Your school",
    "class": "Your class",
    "role": "That you are a student",
    "locale": "The language you chose",
}
# The same, as a guardian reads them of their child.
CLAIM_NAMES = {
    "name": "First and last name",
    "school": "School",
    "class": "Class",
    "role": "Role",
    "locale": "Language",
}


@dataclass(frozen=True)
class Student:
    """A student who may sign in to a platform, with what the claims are made of."""

    account_id: UUID
    school_id: str
    school_name: str
    first_name: str
    last_name: str
    class_name: str | None
    language: str

    def get_user_id(self) -> str:
        """Authlib's name for the user's id (never given to a platform: the subject is pairwise)."""
        return str(self.account_id)


def student_of(conn: Connection, account_id: UUID) -> Student | None:
    """The account's student, or None when the account is not a student's (or is disabled)."""
    # Three lookups by key, not a join: on Citus an account and its people row live on different shards.
    account = conn.execute(
        select(accounts.c.school_id, accounts.c.person_id).where(
            accounts.c.id == account_id, accounts.c.active.is_(True), accounts.c.deleted_at.is_(None)
        )
    ).first()
    if account is None or account.school_id is None or account.person_id is None:
        return None
    row = conn.execute(
        select(
            people.c.school_id,
            people.c.first_name,
            people.c.last_name,
            people.c.class_name,
            people.c.language,
            people.c.role,
            people.c.active,
        ).where(people.c.school_id == account.school_id, people.c.id == account.person_id)
    ).first()
    if row is None or row.role != "student" or not row.active:
        return None
    if Grant(Role.STUDENT, row.school_id) not in roles_in_force(conn, account_id):
        return None
    chosen = notice_settings(conn, account_id).language
    language = next((x for x in (chosen, row.language) if x in LANGUAGES), "kk")
    named = conn.execute(select(schools.c.name).where(schools.c.school_id == row.school_id)).scalar()
    return Student(
        account_id,
        row.school_id,
        named or row.school_id,  # a school not yet named goes by its id
        row.first_name,
        row.last_name,
        row.class_name,
        language,
    )


def claims_of(student: Student, names: Iterable[str]) -> dict[str, Any]:
    """The claims ``names`` of ``student`` (only names of ``CLAIMS``; anything else is ignored)."""
    every: dict[str, Any] = {
        "name": f"{student.first_name} {student.last_name}",
        "school": {"id": student.school_id, "name": student.school_name},
        "class": student.class_name,
        "role": "student",
        "locale": student.language,
    }
    return {name: every[name] for name in names if name in every and every[name] is not None}
