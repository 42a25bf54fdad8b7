"""Correcting a person's IIN (a digit mistyped in the roster): the one change of identity the office makes.

A roster import matches people by IIN, so it cannot correct one: a corrected number in the file
would read as a new person (and the old one as gone). The school's administrator corrects it here
instead, most often because the Social Wallet refused a meal for an IIN it does not know. The
change takes the school's next roster version (the gateways pick it up) and is journalled with the
number before and after. The caller owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import iin_index, iin_indexes, people
from cloud_api.roster.iin import iin_problem
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.roster_versions import next_version

__all__ = ["correct_iin"]


def correct_iin(conn: Connection, school_id: str, person_id: Any, iin: str, *, actor: str) -> bool:
    """Give the person the IIN ``iin``; False when it already was theirs.

    ``unknown_person`` when the school has no such person, an ``iin_*`` code when ``iin`` is not a
    valid IIN, ``iin_taken`` when another person of the school has it.
    """
    iin = iin.strip()
    problem = iin_problem(iin)
    if problem is not None:
        raise DomainError(problem.value)
    row = conn.execute(
        select(people.c.iin).where(people.c.school_id == school_id, people.c.id == person_id).with_for_update()
    ).first()
    if row is None:
        raise DomainError("unknown_person")
    if row.iin == iin:
        return False
    holder = conn.execute(
        select(people.c.id).where(
            people.c.school_id == school_id,
            people.c.iin_index.in_(iin_indexes(conn, iin)),
            people.c.id != person_id,
        )
    ).first()
    if holder is not None:
        raise DomainError("iin_taken")
    now = datetime.now(UTC)
    conn.execute(
        update(people)
        .where(people.c.school_id == school_id, people.c.id == person_id)
        .values(iin=iin, iin_index=iin_index(conn, iin), version=next_version(conn, school_id), updated_at=now)
    )
    write_audit(
        conn, school_id, actor, now, [AuditEntry("update", "person", str(person_id), {"iin": row.iin}, {"iin": iin})]
    )
    return True
