"""The audit journal (Order No. 456 §5): every create, change and delete of personal data.

Services collect :class:`AuditEntry` values while they change rows and write them in the same
transaction, so a change and its journal entry commit or vanish together. The caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.db.schema import audit_log

__all__ = ["AuditEntry", "account_of_actor", "audit_entries", "audit_page", "write_audit"]

# "use": a use of a master credential (the deployment's admin token), journalled as a security event.
Action = Literal["create", "update", "delete", "use"]


class AuditEntry(NamedTuple):
    """One change: what was done to which record, and its fields before and after."""

    action: Action
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def account_of_actor(actor: str) -> UUID | None:
    """The account id in a journal's actor (``account:<id>``), else None (the system, a gateway, a job)."""
    kind, _, value = actor.partition(":")
    if kind != "account":
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def write_audit(conn: Connection, school_id: str, actor: str, at: datetime, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` made by ``actor`` at ``at`` to the journal of ``school_id``."""
    if not entries:
        return
    conn.execute(
        insert(audit_log),
        [{"school_id": school_id, "at": at, "actor": actor, **e._asdict()} for e in entries],
    )


def audit_entries(conn: Connection, school_id: str, entity: str | None = None) -> list[dict[str, Any]]:
    """The journal of a school, oldest first (optionally of one kind of record)."""
    query = select(audit_log).where(audit_log.c.school_id == school_id).order_by(audit_log.c.id)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    return [dict(row._mapping) for row in conn.execute(query)]


def audit_page(
    conn: Connection,
    school_id: str,
    *,
    entity: str | None = None,
    entity_ids: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The journal of a school newest first: entries of ``entity`` (of ``entity_ids``) by ``actor`` in
    [``since``, ``until``), below ``before_id``.

    Paged by id rather than by offset: entries written while an administrator pages through the
    journal neither shift nor repeat what the next page shows.
    """
    query = select(audit_log).where(audit_log.c.school_id == school_id)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if entity_ids is not None:
        query = query.where(audit_log.c.entity_id.in_(list(entity_ids)))
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return [dict(row._mapping) for row in conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))]
