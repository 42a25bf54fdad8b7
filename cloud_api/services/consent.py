"""Consent to attendance tracking (Order No. 456 §33-1.1), given or withdrawn by a guardian per child.

Consent is kept as history: each change is a new row, the newest one for a child is in force. A
child without consent still walks in; the gateway records the event without identity and no
notice goes out. Only a guardian of the child can give or withdraw it. The caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import consents, guardianships
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.history import in_force
from cloud_api.services.roster_versions import next_version

__all__ = ["consents_of", "require_guardian", "set_consent"]


def set_consent(
    conn: Connection, school_id: str, child_id: UUID, guardian_id: UUID, given: bool, *, actor: str
) -> None:
    """Record a guardian's consent (or its withdrawal) for one child."""
    require_guardian(conn, school_id, guardian_id, child_id)
    before = consents_of(conn, school_id, [child_id]).get(child_id, False)
    if before == given:
        return  # nothing changes: no version, no journal entry
    now = datetime.now(UTC)
    conn.execute(
        insert(consents).values(
            school_id=school_id,
            child_id=child_id,
            guardian_id=guardian_id,
            given=given,
            at=now,
            version=next_version(conn, school_id),
        )
    )
    entry = AuditEntry("update", "consent", str(child_id), {"given": before}, {"given": given, "by": str(guardian_id)})
    write_audit(conn, school_id, actor, now, [entry])


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


def consents_of(conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None) -> dict[UUID, bool]:
    """The consent in force for each child that has ever had one (all the school's, or ``child_ids``)."""
    given = in_force(conn, consents, school_id, "child_id", "given", child_ids)
    return {child: bool(yes) for child, yes in given.items()}
