"""Guardians' and students' accounts made in bulk from the school's roster, and passwords set with a one-time
code. The caller owns the transaction.

:func:`create_family_accounts` gives every active guardian and student of the roster who has a phone
number or an e-mail (the NEDB export's contacts) and no account yet an account without a password,
its role, and an activation code, returned as letters to print or send. :func:`set_password_with_code`
is where the person arrives: the code and the password they choose (held to the password policy
before the code is spent, so a refused password does not cost the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import accounts, guardianships, people
from cloud_api.roster.iin import birth_date
from cloud_api.services.accounts import (
    Role,
    create_account,
    get_account,
    grant_role,
    is_staff,
    set_password,
    set_second_factor_wanted,
)
from cloud_api.services.family import children_of
from cloud_api.services.one_time_codes import Purpose, issue_code, redeem_code
from cloud_api.services.passwords import check_password
from cloud_api.services.second_factor import remove_second_factors

__all__ = [
    "ChildSignIn",
    "Letter",
    "Skipped",
    "child_sign_in",
    "create_family_accounts",
    "is_under_16",
    "set_child_second_factor",
    "set_password_with_code",
]


@dataclass(frozen=True)
class Letter:
    """What an activation letter says: to whom, the login, the code, and (for a guardian) whose parent."""

    account_id: UUID
    login: str
    name: str
    role: str
    code: str
    language: str
    children: list[str]


@dataclass(frozen=True)
class Skipped:
    """A person of the roster who got no account, and why (``no_contact``, ``login_taken``)."""

    person_id: UUID
    name: str
    reason: str


def _name(row: object) -> str:
    return " ".join(p for p in (getattr(row, "last_name", ""), getattr(row, "first_name", "")) if p)


def create_family_accounts(
    conn: Connection, school_id: str, now: datetime, *, actor: str, class_name: str | None = None
) -> tuple[list[Letter], list[Skipped]]:
    """Accounts with activation codes for the school's guardians and students that have none yet.

    ``class_name``: only the students of that class and their guardians (a class's letters at a time,
    for its class teacher to hand out).
    """
    query = select(people).where(people.c.school_id == school_id, people.c.active)
    if class_name is None:
        query = query.where(people.c.role.in_(("guardian", "student")))
    else:
        pupils = select(people.c.id).where(
            people.c.school_id == school_id, people.c.role == "student", people.c.class_name == class_name
        )
        their_guardians = select(guardianships.c.guardian_id).where(
            guardianships.c.school_id == school_id, guardianships.c.child_id.in_(pupils)
        )
        query = query.where(people.c.id.in_(pupils) | people.c.id.in_(their_guardians))
    rows = conn.execute(query.order_by(people.c.class_name, people.c.last_name, people.c.first_name)).all()
    have = set(
        conn.execute(
            select(accounts.c.person_id).where(accounts.c.school_id == school_id, accounts.c.person_id.is_not(None))
        ).scalars()
    )
    children = _children_by_guardian(conn, school_id)
    letters: list[Letter] = []
    skipped: list[Skipped] = []
    for row in rows:
        if row.id in have:
            continue
        login = row.phone or row.email
        if not login:
            skipped.append(Skipped(row.id, _name(row), "no_contact"))
            continue
        try:
            account = create_account(conn, login, actor=actor, person_id=row.id, school_id=school_id)
        except DomainError as refused:
            skipped.append(Skipped(row.id, _name(row), refused.code))
            continue
        role = Role.GUARDIAN if row.role == "guardian" else Role.STUDENT
        grant_role(conn, account.id, role, school_id, actor=actor)
        code = issue_code(conn, account.id, "activation", now, actor=actor, school_id=school_id)
        kids = children.get(row.id, [])
        letters.append(Letter(account.id, account.login, _name(row), row.role, code, row.language or "kk", kids))
    return letters, skipped


def _children_by_guardian(conn: Connection, school_id: str) -> dict[UUID, list[str]]:
    rows = conn.execute(
        select(guardianships.c.guardian_id, people.c.last_name, people.c.first_name, people.c.class_name)
        .join(people, (people.c.school_id == guardianships.c.school_id) & (people.c.id == guardianships.c.child_id))
        .where(guardianships.c.school_id == school_id)
        .order_by(people.c.last_name, people.c.first_name)
    )
    out: dict[UUID, list[str]] = {}
    for guardian_id, last, first, class_name in rows:
        out.setdefault(guardian_id, []).append(f"{last} {first}" + (f", {class_name}" if class_name else ""))
    return out


def set_password_with_code(
    conn: Connection, account_id: UUID, purpose: Purpose, code: str, new_password: str, now: datetime
) -> str:
    """Set the password with a one-time code: ``ok``, ``wrong`` (a try counted) or ``spent``.

    The password is checked first (``DomainError`` with the policy's reason, and the code is not spent);
    a right code ends every session of the account, as any new password does.
    """
    account = get_account(conn, account_id)
    if account is None or not account.active:
        return "spent"
    check_password(new_password, account.login, staff=is_staff(conn, account_id))
    outcome = redeem_code(conn, account_id, purpose, code, now)
    if outcome == "ok":
        set_password(conn, account_id, new_password, actor=f"account:{account_id}")
    return outcome


@dataclass(frozen=True)
class ChildSignIn:
    """A child's account as their guardian sees it: whether the child is under 16, and the second factor."""

    account_id: UUID
    under_16: bool
    second_factor_wanted: bool


def is_under_16(conn: Connection, school_id: str, person_id: UUID, today: date) -> bool:
    """Whether the person is a student younger than 16 today (by the birth date their IIN encodes)."""
    row = conn.execute(
        select(people.c.iin, people.c.role).where(people.c.school_id == school_id, people.c.id == person_id)
    ).first()
    if row is None or row.role != "student":
        return False
    born = birth_date(row.iin)
    if born is None:
        return True  # no date to go by: a student is a child until shown otherwise
    sixteenth = born.replace(year=born.year + 16) if (born.month, born.day) != (2, 29) else date(born.year + 16, 3, 1)
    return today < sixteenth


def child_sign_in(
    conn: Connection, school_id: str, guardian_id: UUID, child_id: UUID, today: date
) -> ChildSignIn | None:
    """The account of the guardian's child, if the child is theirs and has one."""
    if not children_of(conn, school_id, guardian_id, child_id):
        return None
    row = conn.execute(
        select(accounts.c.id, accounts.c.second_factor_wanted).where(
            accounts.c.school_id == school_id, accounts.c.person_id == child_id, accounts.c.deleted_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return ChildSignIn(row.id, is_under_16(conn, school_id, child_id, today), bool(row.second_factor_wanted))


def set_child_second_factor(
    conn: Connection, school_id: str, guardian_id: UUID, child_id: UUID, wanted: bool, now: datetime, *, actor: str
) -> bool:
    """A guardian turns the second factor of their child's account (under 16) on or off; False when they may not.

    §5.11: for children under 16 it may be off only with a parent's consent, so it is the guardian's to
    decide; the child sets it up at their next sign-in.
    """
    child = child_sign_in(conn, school_id, guardian_id, child_id, now.date())
    if child is None or not child.under_16:
        return False
    set_second_factor_wanted(conn, child.account_id, wanted, now, actor=actor, school_id=school_id)
    if not wanted:
        remove_second_factors(conn, child.account_id, now, actor=actor, school_id=school_id)
    return True
