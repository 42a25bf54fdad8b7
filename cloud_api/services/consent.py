"""Consent to attendance tracking (Order No. 456 §33-1.1), given or withdrawn by a guardian per child.

Consent is per identification method (:data:`METHODS`): ``card`` (the ID card; the consent to
tracking every part of the system has always read) and ``qr`` (the Social Wallet's dynamic QR code,
"alternative identification only with consent"). A family may consent to one and not the other.
Consent is kept as history: each change is a new row, the newest one per child and method is in
force. A child without consent to the method they used still walks in (and eats); the gateway
records the event without identity and no notice goes out. Only a guardian of the child can give
or withdraw it. The caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import consents, guardianships, people
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.history import newest_rows
from cloud_api.services.roster_versions import next_version
from shared.localtime import local_date

__all__ = [
    "METHODS",
    "ClassConsent",
    "Method",
    "Paper",
    "consent_history",
    "consent_overview",
    "consents_of",
    "require_guardian",
    "set_consent",
]


Method = Literal["card", "qr"]
METHODS: tuple[Method, ...] = ("card", "qr")


@dataclass(frozen=True)
class Paper:
    """A consent a guardian signed on paper at the school: the day they signed, the paper's reference."""

    signed_on: date
    reference: str


def set_consent(
    conn: Connection,
    school_id: str,
    child_id: UUID,
    guardian_id: UUID,
    given: bool,
    *,
    actor: str,
    paper: Paper | None = None,
    method: Method = "card",
) -> bool:
    """Record a guardian's consent (or its withdrawal) for one child and method; False when it was already so.

    ``paper``: the school records what the guardian signed on paper (``actor`` is then the staff
    member), and the guardian sees in the app that it was given so.
    """
    require_guardian(conn, school_id, guardian_id, child_id)
    if method not in METHODS:
        raise DomainError("unknown_consent_method")
    if paper is not None and paper.signed_on > local_date(datetime.now(UTC)):
        raise DomainError("date_in_future")
    in_force_now = consents_of(conn, school_id, [child_id], method).get(child_id)
    before = bool(in_force_now)
    # A paper refusal of a child never asked is kept too: "withdrawn" is not "never asked".
    if before == given and (paper is None or in_force_now is not None):
        return False  # nothing changes: no version, no journal entry
    now = datetime.now(UTC)
    conn.execute(
        insert(consents).values(
            school_id=school_id,
            child_id=child_id,
            guardian_id=guardian_id,
            given=given,
            at=now,
            version=next_version(conn, school_id),
            source="app" if paper is None else "paper",
            signed_on=None if paper is None else paper.signed_on,
            reference=None if paper is None else paper.reference,
            actor=actor,
            method=method,
        )
    )
    after: dict[str, Any] = {"given": given, "by": str(guardian_id)}
    if method != "card":
        after["method"] = method  # a card's entry reads as every consent's did before there were methods
    if paper is not None:
        after |= {"paper": paper.reference, "signed_on": paper.signed_on.isoformat()}
    write_audit(conn, school_id, actor, now, [AuditEntry("update", "consent", str(child_id), {"given": before}, after)])
    return True


def consent_history(conn: Connection, school_id: str, child_id: UUID) -> list[dict[str, Any]]:
    """Every consent given or withdrawn for a child, newest first, with the guardian's name and how it was given.

    Each row names its ``method`` (card or qr).
    """
    rows = conn.execute(
        select(
            consents.c.given,
            consents.c.method,
            consents.c.at,
            consents.c.source,
            consents.c.signed_on,
            consents.c.reference,
            consents.c.guardian_id,
            people.c.last_name,
            people.c.first_name,
        )
        .join(people, (people.c.school_id == consents.c.school_id) & (people.c.id == consents.c.guardian_id))
        .where(consents.c.school_id == school_id, consents.c.child_id == child_id)
        .order_by(consents.c.id.desc())
    )
    return [{**row._mapping, "source": row.source or "app"} for row in rows]


@dataclass(frozen=True)
class ClassConsent:
    """A class's students by the consent in force: given, withdrawn, never asked."""

    class_name: str
    given: int
    withdrawn: int
    never: int

    @property
    def students(self) -> int:
        """The class's active students."""
        return self.given + self.withdrawn + self.never


def consent_overview(conn: Connection, school_id: str) -> list[ClassConsent]:
    """Every class of the school (by grade, then letter) with its students counted by consent."""
    students = conn.execute(
        select(people.c.id, people.c.class_name, people.c.grade).where(
            people.c.school_id == school_id, people.c.role == "student", people.c.active
        )
    ).all()
    in_force_now = consents_of(conn, school_id)
    counts: dict[tuple[int, str], Counter[str]] = {}
    for student in students:
        consent = in_force_now.get(student.id)
        state = "never" if consent is None else "given" if consent else "withdrawn"
        counts.setdefault((student.grade or 0, student.class_name or ""), Counter())[state] += 1
    return [ClassConsent(name, c["given"], c["withdrawn"], c["never"]) for (_grade, name), c in sorted(counts.items())]


def require_guardian(conn: Connection, school_id: str, guardian_id: UUID, child_id: UUID) -> None:
    """``DomainError("unknown_person")`` unless ``guardian_id`` is a guardian of ``child_id``.

    Another family's child is answered as if there were none: a guardian learns nothing of which
    children exist by trying ids.
    """
    linked = conn.execute(
        select(guardianships.c.child_id).where(
            guardianships.c.school_id == school_id,
            guardianships.c.guardian_id == guardian_id,
            guardianships.c.child_id == child_id,
        )
    ).first()
    if linked is None:
        raise DomainError("unknown_person")


def consents_of(
    conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None, method: Method | None = "card"
) -> dict[UUID, bool]:
    """The consent to ``method`` in force for each child that has ever had one (all the school's, or ``child_ids``).

    ``card``, the default, is the consent to tracking that feeds and pages go by. ``None``: a consent
    to any method, as the push notices go by. An event names a child only when the family consented
    to the way it was made (the gateway strips the rest), so a family that agreed to the QR code
    alone hears of the meals the code served.
    """
    # The newest row per child *and method*, then the method's: another method's row never hides it.
    query = newest_rows(consents, school_id, "child_id", "method")
    if method is not None:
        query = query.where(consents.c.method == method)
    if child_ids is not None:
        query = query.where(consents.c.child_id.in_(list(child_ids)))
    found: dict[UUID, bool] = {}
    for child, yes in conn.execute(query.with_only_columns(consents.c.child_id, consents.c.given)):
        found[child] = found.get(child, False) or bool(yes)
    return found
