"""The NEDB exchange's tables: which schools take part, the packet journal, refused records. The caller
owns the transaction.

A school takes part once it has a row in ``nedb_schools`` (:func:`enable`, journalled); a school
without one keeps the file import. The worker claims the schools whose ``next_pull_at`` has come by
moving it a lease ahead (so two processes never pull one school at once, whatever lock they hold),
then settles it: pulled (the cursor moved, next pull in the interval) or failed (the cursor kept,
next try after a backoff).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, delete, func, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import nedb_figures, nedb_packets, nedb_refusals, nedb_schools, roster_versions, schools
from cloud_api.nedb.client import Packet
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "ORGANISATION",
    "Refusal",
    "SchoolLink",
    "claim_due_schools",
    "disable",
    "enable",
    "figures_of",
    "figures_waiting",
    "journal",
    "link_of",
    "linked_schools",
    "pull_failed",
    "pull_now",
    "pulled",
    "refusals_of",
    "school_known",
    "store_refusals",
]

# An organisation code at the NEDB: letters, digits and dashes (a BIN is 12 digits).
ORGANISATION = r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"


@dataclass(frozen=True)
class SchoolLink:
    """A school's part in the exchange, as ``nedb_schools`` holds it."""

    school_id: str
    organisation: str
    enabled_at: datetime
    cursor: str | None
    classes: list[str] | None
    next_pull_at: datetime
    last_pull_at: datetime | None
    last_applied: int
    last_refused: int
    failures: int
    failing_since: datetime | None
    last_error: str | None
    last_try_at: datetime | None


@dataclass(frozen=True)
class Refusal:
    """A record refused on either side, with what the office shows of it."""

    direction: str  # in: a roster record we refused; out: a figure the NEDB refused
    record_id: str
    kind: str
    reason: str
    message: str = ""
    detail: dict[str, Any] | None = None


def _link(row: Any) -> SchoolLink:
    return SchoolLink(**{name: getattr(row, name) for name in SchoolLink.__dataclass_fields__})


def link_of(conn: Connection, school_id: str) -> SchoolLink | None:
    """The school's part in the exchange, or None when it keeps the file import."""
    row = conn.execute(select(nedb_schools).where(nedb_schools.c.school_id == school_id)).first()
    return _link(row) if row is not None else None


def linked_schools(conn: Connection, school_ids: Iterable[str] | None = None) -> list[SchoolLink]:
    """Every school that takes part (of ``school_ids`` when given), by school id."""
    query = select(nedb_schools).order_by(nedb_schools.c.school_id)
    if school_ids is not None:
        query = query.where(nedb_schools.c.school_id.in_(list(school_ids)))
    return [_link(row) for row in conn.execute(query)]


def enable(conn: Connection, school_id: str, organisation: str, *, actor: str, now: datetime) -> None:
    """The school takes part under its NEDB code ``organisation``; its first pull is due at once.

    A school that took part already keeps its cursor unless the code changes (another
    organisation's versions mean nothing for it).
    """
    if not re.fullmatch(ORGANISATION, organisation):
        raise DomainError("nedb_bad_organisation", f"not an NEDB organisation code: {organisation!r}")
    current = link_of(conn, school_id)
    if current is not None and current.organisation == organisation:
        return
    if current is not None:
        conn.execute(delete(nedb_schools).where(nedb_schools.c.school_id == school_id))
    conn.execute(
        insert(nedb_schools).values(school_id=school_id, organisation=organisation, enabled_at=now, next_pull_at=now)
    )
    before = {"organisation": current.organisation} if current is not None else None
    entry = AuditEntry(
        "update" if current else "create", "nedb_link", school_id, before, {"organisation": organisation}
    )
    write_audit(conn, school_id, actor, now, [entry])


def disable(conn: Connection, school_id: str, *, actor: str, now: datetime) -> bool:
    """The school leaves the exchange (back to the file import); whether it took part. The journal stays."""
    current = link_of(conn, school_id)
    if current is None:
        return False
    conn.execute(delete(nedb_schools).where(nedb_schools.c.school_id == school_id))
    # Figures not yet sent stay unsent: the school no longer reports to the NEDB through us.
    conn.execute(delete(nedb_figures).where(nedb_figures.c.school_id == school_id, nedb_figures.c.state == "pending"))
    entry = AuditEntry("delete", "nedb_link", school_id, {"organisation": current.organisation}, None)
    write_audit(conn, school_id, actor, now, [entry])
    return True


def pull_now(conn: Connection, school_id: str, *, actor: str, now: datetime) -> bool:
    """Make the school's next pull due at once (the office's button); whether it takes part."""
    done = conn.execute(
        update(nedb_schools).where(nedb_schools.c.school_id == school_id).values(next_pull_at=now)
    ).rowcount
    if done:
        write_audit(conn, school_id, actor, now, [AuditEntry("create", "nedb_pull", school_id, None, {"asked": True})])
    return bool(done)


def claim_due_schools(conn: Connection, *, now: datetime, lease: timedelta, limit: int = 50) -> list[SchoolLink]:
    """The schools whose pull is due, leased to this round (their ``next_pull_at`` moved ``lease`` on)."""
    due = select(nedb_schools.c.school_id).where(nedb_schools.c.next_pull_at <= now)
    ids = list(conn.execute(due.order_by(nedb_schools.c.next_pull_at).limit(limit)).scalars())
    if not ids:
        return []
    # The due condition again: a process that claimed one meanwhile has moved it past now.
    rows = conn.execute(
        update(nedb_schools)
        .where(nedb_schools.c.school_id.in_(ids), nedb_schools.c.next_pull_at <= now)
        .values(next_pull_at=now + lease, last_try_at=now)
        .returning(*nedb_schools.c)
    ).all()
    return sorted((_link(row) for row in rows), key=lambda link: link.school_id)


def pulled(
    conn: Connection,
    school_id: str,
    *,
    cursor: str | None,
    classes: list[str] | None,
    applied: int,
    refused: int,
    now: datetime,
    next_at: datetime,
) -> None:
    """A pull (or a page of it) applied: the cursor moves with it, in the same transaction."""
    conn.execute(
        update(nedb_schools)
        .where(nedb_schools.c.school_id == school_id)
        .values(
            cursor=cursor,
            classes=classes,
            last_pull_at=now,
            last_applied=applied,
            last_refused=refused,
            failures=0,
            failing_since=None,
            last_error=None,
            next_pull_at=next_at,
        )
    )


def pull_failed(conn: Connection, school_id: str, error: str, *, now: datetime, retry_at: datetime) -> None:
    """A pull that found no usable answer: the cursor stays, the next try waits ``retry_at``."""
    c = nedb_schools.c
    conn.execute(
        update(nedb_schools)
        .where(c.school_id == school_id)
        .values(
            failures=c.failures + 1,
            failing_since=func.coalesce(c.failing_since, now),
            last_error=error[:300],
            next_pull_at=retry_at,
        )
    )


def journal(conn: Connection, school_id: str, packets: Sequence[Packet]) -> None:
    """Keep ``packets`` as they went over the wire (the body encrypted, its SHA-256 in clear)."""
    if not packets:
        return
    conn.execute(
        insert(nedb_packets),
        [
            {
                "school_id": school_id,
                "id": p.id,
                "direction": p.direction,
                "kind": p.kind,
                "at": p.at,
                "method": p.method,
                "target": p.target[:512],
                "status_code": p.status_code,
                "timestamp": p.timestamp,
                "signature": (p.signature or "")[:256] or None,
                "request_id": p.request_id,
                "body_sha256": p.sha256,
                "body": p.body.decode("utf-8", "replace"),
                "verified": p.verified,
            }
            for p in packets
        ],
    )


def store_refusals(
    conn: Connection, school_id: str, packet_id: UUID, refusals: Sequence[Refusal], *, now: datetime
) -> None:
    """Keep the records refused of one packet."""
    if not refusals:
        return
    conn.execute(
        insert(nedb_refusals),
        [
            {
                "school_id": school_id,
                "id": UUID(str(uuid_utils.uuid7())),
                "direction": r.direction,
                "at": now,
                "packet_id": packet_id,
                "record_id": r.record_id[:96],
                "kind": r.kind,
                "reason": r.reason[:64],
                "message": r.message[:500],
                "detail": r.detail,
            }
            for r in refusals
        ],
    )


def refusals_of(conn: Connection, school_id: str, direction: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The school's newest refused records of one direction, newest first."""
    r = nedb_refusals.c
    query = (
        select(nedb_refusals)
        .where(r.school_id == school_id, r.direction == direction)
        .order_by(r.at.desc(), r.record_id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def figures_of(conn: Connection, school_id: str, *, limit: int = 24) -> list[dict[str, Any]]:
    """The school's figures packets, the newest period first (without their payload)."""
    f = nedb_figures.c
    columns = [c for c in nedb_figures.c if c.name != "payload"]
    query = select(*columns).where(f.school_id == school_id).order_by(f.period.desc(), f.kind).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def figures_waiting(conn: Connection, school_ids: Sequence[str]) -> dict[str, int]:
    """How many figures packets of each school wait to be answered by the NEDB."""
    if not school_ids:
        return {}
    f = nedb_figures.c
    query = (
        select(f.school_id, func.count())
        .where(f.school_id.in_(list(school_ids)), f.state == "pending")
        .group_by(f.school_id)
    )
    return {school: int(n) for school, n in conn.execute(query).all()}


def school_known(conn: Connection, school_id: str) -> bool:
    """Whether the deployment knows the school: named (``mektep cloud school-add``) or with a roster."""
    named = conn.execute(select(schools.c.school_id).where(schools.c.school_id == school_id)).first()
    if named is not None:
        return True
    version = roster_versions.c
    return conn.execute(select(version.school_id).where(version.school_id == school_id)).first() is not None
