"""A roster delta from the NEDB applied to a school through the importer the file import uses. The caller
owns the transaction: the delta applies whole or not at all, with the cursor that goes with it.

Each record becomes a row of the export the file import reads (:func:`cloud_api.roster.nedb.parse_rows`),
so the very same checks refuse it: a bad IIN, a class that is not a class (``unknown_class``), a
missing name, an unknown meal category. On top of those, what only a delta can get wrong:

    nedb_class_not_listed   a student in a class the NEDB's own class list for the school lacks
    unknown_person          a removal, or an eligibility, of someone the school does not have
    nedb_conflict           one delta both keeps and removes the same person

A refused record is kept (``nedb_refusals``) with its reason and what the office shows of it; the
good rest is applied (:func:`cloud_api.services.roster_import.import_roster`: created, updated,
audited, one roster version) and removals mark people as gone. Class records maintain the list of
the school's classes the NEDB gave. Nothing of the NEDB's data is trusted further than the file's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from cloud_api.db.schema import people
from cloud_api.nedb.contract import Operation, RecordKind, RosterDelta, RosterRecord
from cloud_api.nedb.store import Refusal
from cloud_api.roster.iin import iin_problem
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.roster_import import ImportReport, import_roster

__all__ = ["ACTOR", "Applied", "apply_delta", "class_list"]

ACTOR = "nedb"  # how the audit journal names the exchange
_HEADER = [
    "role",
    "iin",
    "last_name",
    "first_name",
    "middle_name",
    "class",
    "language",
    "meal_category",
    "discount_percent",
    "phone",
    "email",
]
_FIRST_ROW = 2  # parse_rows counts the header as row 1


@dataclass
class Applied:
    """What applying one delta did."""

    created: int = 0
    updated: int = 0
    left: int = 0
    unchanged: int = 0
    classes_changed: int = 0
    refused: list[Refusal] = field(default_factory=list)
    version: int = 0  # the school's roster version after it

    @property
    def applied(self) -> int:
        """Records that changed something."""
        return self.created + self.updated + self.left + self.classes_changed


def class_list(classes: Sequence[str] | None, delta: RosterDelta) -> tuple[list[str] | None, int]:
    """The school's classes after the delta's class records, and how many changed (None: never given)."""
    records = [r for r in delta.records if r.kind is RecordKind.CLASS and r.class_name]
    if not records:
        return (list(classes) if classes is not None else None), 0
    known = {_class_key(c): c for c in classes or ()}
    changed = 0
    for record in records:
        key = _class_key(record.class_name or "")
        if record.op is Operation.UPSERT and key not in known:
            known[key] = _class_key(record.class_name or "")
            changed += 1
        elif record.op is Operation.REMOVE and key in known:
            del known[key]
            changed += 1
    return sorted(known.values()), changed


def _class_key(name: str) -> str:
    # "3 Б", "3-б" and "3Б" are one class: the file import writes them so (grade and capital letter).
    return "".join(ch for ch in name if ch not in " -").upper()


def _detail(record: RosterRecord, column: str = "", value: str = "") -> dict[str, Any]:
    name = " ".join(p for p in (record.last_name, record.first_name) if p)
    out: dict[str, Any] = {"name": name, "class": record.class_name, "iin": record.iin}
    if column:
        out.update(column=column, value=value)
    return out


def _refusal(record: RosterRecord, reason: str, column: str = "", value: str = "") -> Refusal:
    return Refusal("in", record.record_id, record.kind.value, reason, detail=_detail(record, column, value))


def _stored(conn: Connection, school_id: str) -> dict[str, dict[str, Any]]:
    query = select(people).where(people.c.school_id == school_id, people.c.role != "guardian")
    return {row.iin: dict(row._mapping) for row in conn.execute(query)}


def _row(record: RosterRecord, stored: dict[str, Any] | None) -> list[object]:
    """The export row of a student, staff or eligibility record (an eligibility over the stored person)."""
    if record.kind is RecordKind.ELIGIBILITY and stored is not None:
        return [
            stored["role"],
            record.iin or "",
            stored["last_name"],
            stored["first_name"],
            stored["middle_name"] or "",
            stored["class_name"] or "",
            stored["language"] or "",
            record.meal_category or "",
            "" if record.discount_percent is None else str(record.discount_percent),
            stored["phone"] or "",
            stored["email"] or "",
        ]
    return [
        record.kind.value,
        record.iin or "",
        record.last_name or "",
        record.first_name or "",
        record.middle_name or "",
        record.class_name or "",
        record.language or "",
        record.meal_category or "",
        "" if record.discount_percent is None else str(record.discount_percent),
        record.phone or "",
        record.email or "",
    ]


def apply_delta(
    conn: Connection, school_id: str, delta: RosterDelta, *, classes: Sequence[str] | None, at: datetime
) -> tuple[Applied, list[str] | None]:
    """Apply ``delta``'s good records to the school; what it did and the school's class list after it."""
    out = Applied()
    new_classes, out.classes_changed = class_list(classes, delta)
    listed = {_class_key(c) for c in new_classes} if new_classes else None
    stored = _stored(conn, school_id)
    rows: list[list[object]] = []
    by_row: dict[int, RosterRecord] = {}
    leaving: list[str] = []
    kept = {r.iin for r in delta.records if r.op is Operation.UPSERT and r.kind is not RecordKind.CLASS}
    for record in delta.records:
        if record.kind is RecordKind.CLASS:
            continue
        iin = record.iin or ""
        if record.op is Operation.REMOVE:
            if (problem := iin_problem(iin)) is not None:
                out.refused.append(_refusal(record, problem.value, "iin", iin))
            elif iin in kept:
                out.refused.append(_refusal(record, "nedb_conflict", "iin", iin))
            elif iin not in stored:
                out.refused.append(_refusal(record, "unknown_person", "iin", iin))
            else:
                leaving.append(iin)
            continue
        if record.kind is RecordKind.ELIGIBILITY and iin not in stored:
            code = problem.value if (problem := iin_problem(iin)) is not None else "unknown_person"
            out.refused.append(_refusal(record, code, "iin", iin))
            continue
        if (
            record.kind is RecordKind.STUDENT
            and listed is not None
            and record.class_name
            and _class_key(record.class_name) not in listed
        ):
            out.refused.append(_refusal(record, "nedb_class_not_listed", "class", record.class_name))
            continue
        by_row[_FIRST_ROW + len(rows)] = record
        rows.append(_row(record, stored.get(iin)))
    parsed = parse_rows([_HEADER, *rows])
    for problem in parsed.problems:
        record = by_row[problem.row]
        out.refused.append(_refusal(record, problem.code, problem.column, problem.value))
    report: ImportReport = import_roster(conn, school_id, parsed, actor=ACTOR, at=at, leaving=leaving)
    # Problems the importer found itself (none for students and staff today) are refusals too.
    for problem in report.problems[len(parsed.problems) :]:
        record = by_row[problem.row]
        out.refused.append(_refusal(record, problem.code, problem.column, problem.value))
    out.created, out.updated, out.left, out.unchanged = report.created, report.updated, report.left, report.unchanged
    out.version = report.version
    return out, new_classes
