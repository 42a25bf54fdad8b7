"""Importing a parsed NEDB roster into a school: idempotent, audited, one roster version per import.

A row whose person is new is created; a row that differs from what is stored updates only what
changed; a row equal to what is stored changes nothing. Every create and change is written to the
audit journal with who did it, when, and the fields before and after, so importing the same file
twice leaves no trace the second time. Guardians are linked to the children their row names; a
child the school does not have is a problem of that row, which is then not imported.

The caller owns the transaction: nothing is visible until it commits, so an import is whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from cloud_api.db.schema import guardianships, people
from cloud_api.integrations.webhooks.messages import enqueue_roster_change
from cloud_api.roster.nedb import ParsedRoster, PersonRow, Role, RowProblem
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.roster_versions import current_version, next_version

__all__ = ["ImportReport", "import_roster"]

# What an import may change about a person (identity, the IIN, never changes).
FIELDS = (
    "role",
    "last_name",
    "first_name",
    "middle_name",
    "language",
    "class_name",
    "grade",
    "meal_category",
    "discount_percent",
    "phone",
    "email",
    "active",
)


@dataclass
class ImportReport:
    """What an import did, and the rows it refused."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    links_added: int = 0
    links_removed: int = 0
    left: int = 0  # students and staff a complete export no longer lists, marked as gone
    departures_held: bool = False  # a complete export with refused rows: nobody is marked as gone
    problems: list[RowProblem] = field(default_factory=list)
    version: int = 0  # the school's roster version after the import
    entries: list[AuditEntry] = field(default_factory=list)  # every change, as the journal records it
    names: dict[str, str] = field(default_factory=dict)  # person id → "Surname Name", of those changed
    known: int = 0  # students and staff of the file the school already had (0: perhaps another school's file)


def import_roster(
    conn: Connection,
    school_id: str,
    roster: ParsedRoster,
    *,
    actor: str,
    progress: Callable[[int], None] = lambda _n: None,
    at: datetime | None = None,
    complete: bool = False,
    preview: bool = False,
    leaving: Collection[str] = (),
) -> ImportReport:
    """Store the good rows of ``roster`` for ``school_id``; ``progress(n)`` after each n rows.

    A ``complete`` export lists everyone of the school: the students and staff it no longer lists
    have left, and are marked inactive (their cards stop opening the doors, the attendance report
    stops counting them absent). Only when every row of it was good: a refused row may be one of
    them, so then nobody is marked, and the report says so.

    ``at`` is when the journal says the changes were made (now unless given): a month's reports
    read the roster as it stood then (:mod:`cloud_api.reports.roster_then`).

    ``leaving``: IINs of students and staff who have left (a removal in an NEDB delta,
    :mod:`cloud_api.nedb.roster`): marked inactive as a complete export marks those it no longer lists.

    ``preview``: work out everything (the report, its ``entries`` and ``names``) and store nothing,
    so that the administrator sees what an import will do before it does it.
    """
    now = at or datetime.now(UTC)
    report = ImportReport(problems=list(roster.problems))
    query = select(people).where(people.c.school_id == school_id)
    stored = {row.iin: dict(row._mapping) for row in conn.execute(query)}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    audit: list[AuditEntry] = []
    # Children and staff first, so that a guardian's row finds the children of the same file.
    ordered = sorted(roster.rows, key=lambda r: r.role is Role.GUARDIAN)
    guardians: list[tuple[PersonRow, UUID]] = []
    for done, row in enumerate(ordered, start=1):
        wanted = _fields(row)
        if row.role is Role.GUARDIAN and (missing := [c for c in row.children if c not in stored]):
            report.problems.append(RowProblem(row.row, "children", "unknown_child", ", ".join(missing)))
            continue
        current = stored.get(row.iin)
        if current is not None and row.role is not Role.GUARDIAN:
            report.known += 1
        if current is None:
            person_id = UUID(str(uuid_utils.uuid7()))
            record = {"school_id": school_id, "id": person_id, "iin": row.iin, **wanted, "updated_at": now}
            inserts.append(record)
            stored[row.iin] = record
            audit.append(AuditEntry("create", "person", str(person_id), None, {"iin": row.iin, **wanted}))
            report.created += 1
        else:
            person_id = current["id"]
            changed = {k: v for k, v in wanted.items() if current[k] != v}
            if changed:
                updates.append({"b_id": person_id, **{k: current[k] for k in FIELDS}, **changed, "updated_at": now})
                audit.append(AuditEntry("update", "person", str(person_id), {k: current[k] for k in changed}, changed))
                current.update(changed)
                report.updated += 1
            else:
                report.unchanged += 1
        if row.role is Role.GUARDIAN:
            guardians.append((row, person_id))
        if done % 500 == 0:
            progress(500)
    progress(len(ordered) % 500)
    if complete:
        _departures(roster, stored, now, updates, audit, report)
    for iin in leaving:
        _mark_gone(stored.get(iin), now, updates, audit, report)
    links = _link_changes(conn, school_id, guardians, stored, audit, report)
    report.entries = audit
    names = {str(person["id"]): f"{person['last_name']} {person['first_name']}" for person in stored.values()}
    report.names = {e.entity_id: names[e.entity_id] for e in audit if e.entity_id in names}
    if preview:
        return report
    if not audit:
        report.version = current_version(conn, school_id)
        return report
    # One version for the whole import, taken only once there is something to version.
    version = report.version = next_version(conn, school_id)
    for record in (*inserts, *updates, *links.adds):
        record["version"] = version
    if inserts:
        conn.execute(insert(people), inserts)
    if updates:
        conn.execute(
            update(people)
            .where(people.c.school_id == school_id, people.c.id == bindparam("b_id"))
            .values({k: bindparam(k) for k in (*FIELDS, "version", "updated_at")}),
            updates,
        )
    if links.adds:
        conn.execute(insert(guardianships), links.adds)
    for guardian_id, child_id in links.removes:
        conn.execute(
            delete(guardianships).where(
                guardianships.c.school_id == school_id,
                guardianships.c.guardian_id == guardian_id,
                guardianships.c.child_id == child_id,
            )
        )
    write_audit(conn, school_id, actor, now, audit)
    enqueue_roster_change(conn, school_id, version, now)
    return report


def _departures(
    roster: ParsedRoster,
    stored: dict[str, dict[str, Any]],
    now: datetime,
    updates: list[dict[str, Any]],
    audit: list[AuditEntry],
    report: ImportReport,
) -> None:
    """Mark as gone the active students and staff that a complete export no longer lists."""
    if report.problems:
        report.departures_held = True
        return
    listed = {row.iin for row in roster.rows}
    for iin, current in stored.items():
        if iin not in listed:
            _mark_gone(current, now, updates, audit, report)


def _mark_gone(
    current: dict[str, Any] | None,
    now: datetime,
    updates: list[dict[str, Any]],
    audit: list[AuditEntry],
    report: ImportReport,
) -> None:
    """Mark an active student or staff member as gone (a guardian, someone gone already, or nobody: nothing)."""
    if current is None or not current["active"] or current["role"] == Role.GUARDIAN.value:
        return
    updates.append({"b_id": current["id"], **{k: current[k] for k in FIELDS}, "active": False, "updated_at": now})
    audit.append(AuditEntry("update", "person", str(current["id"]), {"active": True}, {"active": False}))
    current["active"] = False
    report.left += 1


def _fields(row: PersonRow) -> dict[str, Any]:
    return {
        "role": row.role.value,
        "last_name": row.last_name,
        "first_name": row.first_name,
        "middle_name": row.middle_name,
        "language": row.language,
        "class_name": row.class_name,
        "grade": row.grade,
        "meal_category": row.meal_category.value if row.meal_category else None,
        "discount_percent": row.discount_percent,
        "phone": row.phone,
        "email": row.email,
        "active": True,
    }


@dataclass
class _LinkChanges:
    adds: list[dict[str, Any]] = field(default_factory=list)
    removes: list[tuple[UUID, UUID]] = field(default_factory=list)


def _link_changes(
    conn: Connection,
    school_id: str,
    guardians: list[tuple[PersonRow, UUID]],
    stored: dict[str, dict[str, Any]],
    audit: list[AuditEntry],
    report: ImportReport,
) -> _LinkChanges:
    """Which guardian-child links to add and remove so that each guardian has exactly the listed children."""
    changes = _LinkChanges()
    if not guardians:
        return changes
    existing: dict[UUID, set[UUID]] = {}
    query = select(guardianships.c.guardian_id, guardianships.c.child_id).where(guardianships.c.school_id == school_id)
    for guardian_id, child_id in conn.execute(query):
        existing.setdefault(guardian_id, set()).add(child_id)
    for row, guardian_id in guardians:
        wanted = {stored[iin]["id"] for iin in row.children}
        have = existing.get(guardian_id, set())
        for child_id in sorted(wanted - have):
            changes.adds.append({"school_id": school_id, "guardian_id": guardian_id, "child_id": child_id})
            link = {"guardian_id": str(guardian_id), "child_id": str(child_id)}
            audit.append(AuditEntry("create", "guardianship", f"{guardian_id}:{child_id}", None, link))
        for child_id in sorted(have - wanted):
            changes.removes.append((guardian_id, child_id))
            link = {"guardian_id": str(guardian_id), "child_id": str(child_id)}
            audit.append(AuditEntry("delete", "guardianship", f"{guardian_id}:{child_id}", link, None))
    report.links_added += len(changes.adds)
    report.links_removed += len(changes.removes)
    return changes
