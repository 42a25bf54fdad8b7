"""Everything a school has, in one archive it can take anywhere (Order No. 456 §12-13: the school owns its data).

A ZIP of JSON Lines files, one record a line: people, guardianships, cards (never a card's hash),
consents, events (meals among them), meals, balance entries, ratings, accounts (never a password,
a second factor or a session) and the audit journal; with ``manifest.json`` (each file's records,
bytes and SHA-256, the school, when it was made) and ``schema.json`` (the JSON Schema of every
file's records, derived from the columns written, so that it cannot drift from them).

Asked for in the office (:func:`request_export`), made by :class:`ExportWorker` in the background
(a leased queue: an API process that dies mid-way leaves the export to another once the lease runs
out), read back with :func:`export_file`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    Select,
    Uuid,
    delete,
    insert,
    select,
    update,
)
from starlette.concurrency import run_in_threadpool

from cloud_api.background.queue import PENDING, LeasedQueue
from cloud_api.db.schema import (
    accounts,
    allergen_bans,
    audit_log,
    balance_entries,
    consents,
    credentials,
    daily_limits,
    dish_versions,
    events,
    free_meals,
    guardianships,
    meal_ratings,
    meal_rules,
    people,
    person_photos,
    role_grants,
    school_export_files,
    school_exports,
    set_meals,
    wallet_vouchers,
)
from cloud_api.db.types import EncryptedJSON, UTCDateTime
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "SECTIONS",
    "ExportWorker",
    "build_archive",
    "export_file",
    "exports_of",
    "record_download",
    "request_export",
]

log = logging.getLogger(__name__)
QUEUE = LeasedQueue(school_exports, key=("school_id", "id"), state="state", lease="due_at", order="requested_at")
LEASE = timedelta(minutes=10)  # renewed at each file written: a slow archive is never taken twice
KEPT = 5  # archives kept per school
CHUNK = 5_000  # rows read at a time: a month of a big school's events never sits in memory whole
FORMAT = 1


@dataclass(frozen=True)
class Section:
    """One file of the archive: its name, what it is, and the columns it holds."""

    name: str
    about: str
    columns: tuple[Column[Any], ...]
    where: Callable[[str], Any]
    order: tuple[Column[Any], ...]

    def query(self, school_id: str) -> Select[Any]:
        """The section's rows of a school, in a stable order."""
        return select(*self.columns).where(self.where(school_id)).order_by(*self.order)


def _without(table: Any, *left_out: str) -> tuple[Column[Any], ...]:
    return tuple(c for c in table.c if c.name not in left_out)


SECTIONS = (
    Section(
        "people",
        "Students, staff and guardians of the roster.",
        _without(people, "version"),
        lambda s: people.c.school_id == s,
        (people.c.id,),
    ),
    Section(
        "guardianships",
        "Which guardian stands for which child.",
        (guardianships.c.guardian_id, guardianships.c.child_id),
        lambda s: guardianships.c.school_id == s,
        (guardianships.c.guardian_id, guardianships.c.child_id),
    ),
    Section(
        "cards",
        "Cards and QR credentials; never the card's hash.",
        _without(credentials, "credential_hash", "version"),
        lambda s: credentials.c.school_id == s,
        (credentials.c.id,),
    ),
    Section(
        "consents",
        "Consent to attendance tracking by each identification method (card, qr), every change.",
        _without(consents, "version"),
        lambda s: consents.c.school_id == s,
        (consents.c.id,),
    ),
    Section(
        "wallet_vouchers",
        "Each child's Social Wallet voucher (what its dynamic QR code names), every change.",
        _without(wallet_vouchers, "version"),
        lambda s: wallet_vouchers.c.school_id == s,
        (wallet_vouchers.c.id,),
    ),
    Section(
        "events",
        "Entries, exits, meals and refusals as the gateway recorded them; never a card's hash.",
        _without(events, "credential_hash", "batch_id"),
        lambda s: events.c.school_id == s,
        (events.c.gateway_id, events.c.seq),
    ),
    Section(
        "meals",
        "The meals served (the events of kind meal).",
        (
            events.c.id,
            events.c.person_id,
            events.c.occurred_at,
            events.c.local_date,
            events.c.decision,
            events.c.reason,
            events.c.meal,
        ),
        lambda s: (events.c.school_id == s) & (events.c.kind == "meal"),
        (events.c.occurred_at, events.c.id),
    ),
    Section(
        "balance_entries",
        "Prepaid balance: top-ups, corrections and meals charged.",
        _without(balance_entries, "version"),
        lambda s: balance_entries.c.school_id == s,
        (balance_entries.c.id,),
    ),
    Section(
        "ratings",
        "Ratings of the canteen by guardians.",
        tuple(meal_ratings.c),
        lambda s: meal_ratings.c.school_id == s,
        (meal_ratings.c.day, meal_ratings.c.child_id),
    ),
    Section(
        "accounts",
        "Accounts of the school; never a password, a second factor or a session.",
        (
            accounts.c.id,
            accounts.c.login,
            accounts.c.display_name,
            accounts.c.email,
            accounts.c.person_id,
            accounts.c.active,
            accounts.c.created_at,
            accounts.c.deleted_at,
        ),
        lambda s: accounts.c.school_id == s,
        (accounts.c.id,),
    ),
    *(
        Section(name, about, _without(table, "version"), lambda s, t=table: t.c.school_id == s, (table.c.id,))
        for name, about, table in (
            ("allergen_bans", "Allergen bans set by guardians, every change.", allergen_bans),
            ("daily_limits", "Daily spending limits set by guardians, every change.", daily_limits),
            ("meal_rules", "The canteen's meal periods and rules, every change.", meal_rules),
            ("dishes", "Dishes with names, prices and allergens, every change.", dish_versions),
            ("set_meals", "Set meals of each day and period, every change.", set_meals),
            ("person_photos", "Which photo (by its SHA-256) each person had, every change.", person_photos),
        )
    ),
    Section(
        "free_meals",
        "Free and discounted meals claimed, one per student, day and period.",
        tuple(free_meals.c),
        lambda s: free_meals.c.school_id == s,
        tuple(free_meals.primary_key.columns),
    ),
    Section(
        "audit",
        "The audit journal: every change of personal data, before and after.",
        tuple(audit_log.c),
        lambda s: audit_log.c.school_id == s,
        (audit_log.c.id,),
    ),
)


def _type(column: Column[Any]) -> dict[str, Any]:
    kind = column.type
    if isinstance(kind, Boolean):
        shape: dict[str, Any] = {"type": "boolean"}
    elif isinstance(kind, Integer | BigInteger):
        shape = {"type": "integer"}
    elif isinstance(kind, UTCDateTime):
        shape = {"type": "string", "format": "date-time"}
    elif isinstance(kind, Date):
        shape = {"type": "string", "format": "date"}
    elif isinstance(kind, Uuid):
        shape = {"type": "string", "format": "uuid"}
    elif isinstance(kind, JSON | EncryptedJSON):  # the archive holds the document, in clear
        shape = {}
    else:
        shape = {"type": "string"}
    if column.nullable and shape:
        shape = {"anyOf": [shape, {"type": "null"}]}
    return shape


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the archive's records: one definition per file."""
    definitions = {
        s.name: {
            "type": "object",
            "description": s.about,
            "properties": {c.name: _type(c) for c in s.columns},
            "required": [c.name for c in s.columns],
            "additionalProperties": False,
        }
        for s in SECTIONS
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mektep Gate school archive",
        "description": "Each file NAME.jsonl holds one record a line, valid against $defs[NAME].",
        "$defs": definitions,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _roles_of(conn: Connection, school_id: str) -> dict[UUID, list[str]]:
    rows = conn.execute(
        select(
            role_grants.c.account_id, role_grants.c.role, role_grants.c.scope, role_grants.c.granted, role_grants.c.id
        )
        .where(role_grants.c.scope == school_id)
        .order_by(role_grants.c.id)
    )
    held: dict[UUID, dict[str, bool]] = {}
    for account_id, role, _scope, granted, _id in rows:
        held.setdefault(account_id, {})[role] = bool(granted)
    return {account: sorted(r for r, on in roles.items() if on) for account, roles in held.items()}


def _lines(conn: Connection, school_id: str, section: Section) -> Iterator[dict[str, Any]]:
    result = conn.execution_options(yield_per=CHUNK).execute(section.query(school_id))
    for row in result:
        yield {k: _plain(v) for k, v in row._mapping.items()}


def build_archive(engine: Engine, school_id: str, progress: Callable[[int], None] = lambda _p: None) -> bytes:
    """The school's archive as ZIP bytes; ``progress(per_cent)`` after each file."""
    out = io.BytesIO()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "school_id": school_id,
        "made_at": datetime.now(UTC).isoformat(),
        "schema": "schema.json",
        "files": {},
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive, engine.connect() as conn:
        roles = _roles_of(conn, school_id)
        for done, section in enumerate(SECTIONS, start=1):
            digest, size, count = hashlib.sha256(), 0, 0
            with archive.open(f"{section.name}.jsonl", "w") as file:
                for record in _lines(conn, school_id, section):
                    if section.name == "accounts":
                        record["roles"] = roles.get(UUID(record["id"]), [])
                    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    file.write(line)
                    digest.update(line)
                    size += len(line)
                    count += 1
            manifest["files"][f"{section.name}.jsonl"] = {
                "records": count,
                "bytes": size,
                "sha256": digest.hexdigest(),
                "about": section.about,
            }
            progress(done * 100 // (len(SECTIONS) + 1))
        archive.writestr("schema.json", json.dumps(_with_roles(json_schema()), ensure_ascii=False, indent=2))
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return out.getvalue()


def _with_roles(schema: dict[str, Any]) -> dict[str, Any]:
    account = schema["$defs"]["accounts"]
    account["properties"]["roles"] = {"type": "array", "items": {"type": "string"}}
    account["required"].append("roles")
    return schema


def request_export(conn: Connection, school_id: str, *, actor: str, now: datetime) -> UUID:
    """Ask for a new archive of the school (journalled: it holds every person's data); its id. The one
    being made already, if any: two clicks make one archive."""
    pending = conn.execute(
        select(school_exports.c.id).where(school_exports.c.school_id == school_id, school_exports.c.state == PENDING)
    ).scalar_one_or_none()
    if pending is not None:
        return pending  # type: ignore[no-any-return]
    export_id = UUID(str(uuid_utils.uuid7()))
    conn.execute(
        insert(school_exports).values(
            school_id=school_id, id=export_id, requested_by=actor, requested_at=now, state=PENDING, progress=0
        )
    )
    write_audit(conn, school_id, actor, now, [AuditEntry("create", "export", str(export_id), None, {"asked": True})])
    return export_id


def record_download(conn: Connection, school_id: str, export_id: UUID, *, actor: str, now: datetime) -> None:
    """Journal that ``actor`` took the school's archive (§5.20: exports of personal data are security events)."""
    write_audit(conn, school_id, actor, now, [AuditEntry("use", "export", str(export_id), None, {"downloaded": True})])


def _keep_latest(conn: Connection, school_id: str) -> None:
    """Only the latest archives stay: older ones are removed (the school downloads what it needs)."""
    done = (
        conn.execute(
            select(school_exports.c.id)
            .where(school_exports.c.school_id == school_id, school_exports.c.state == "done")
            .order_by(school_exports.c.requested_at.desc())
            .offset(KEPT)
        )
        .scalars()
        .all()
    )
    if not done:
        return
    conn.execute(
        delete(school_export_files).where(
            school_export_files.c.school_id == school_id, school_export_files.c.id.in_(done)
        )
    )
    conn.execute(
        update(school_exports)
        .where(school_exports.c.school_id == school_id, school_exports.c.id.in_(done))
        .values(state="removed")
    )


def exports_of(conn: Connection, school_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The school's latest archives, newest first."""
    rows = conn.execute(
        select(school_exports)
        .where(school_exports.c.school_id == school_id)
        .order_by(school_exports.c.requested_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def export_file(conn: Connection, school_id: str, export_id: UUID) -> bytes | None:
    """A finished archive's bytes, or None."""
    return conn.execute(
        select(school_export_files.c.data).where(
            school_export_files.c.school_id == school_id, school_export_files.c.id == export_id
        )
    ).scalar_one_or_none()


class ExportWorker:
    """Makes the archives asked for, one at a time, through the leased queue."""

    name = "school-export"

    def __init__(self, engine: Engine, *, interval_s: float = 5.0) -> None:
        self.engine = engine
        self.interval_s = interval_s

    async def round(self) -> bool:
        """Make one archive asked for; True when one was made (there may be more)."""
        return await run_in_threadpool(self.make_one)

    def make_one(self) -> bool:
        """Claim one archive, make it, store it; False when none is asked for."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            claimed = QUEUE.claim(conn, now=now, limit=1, lease=LEASE)
        if not claimed:
            return False
        job = claimed[0]
        key = [(job.school_id, job.id)]

        def progress(per_cent: int) -> None:
            with self.engine.begin() as conn:
                conn.execute(
                    update(school_exports)
                    .where(school_exports.c.school_id == job.school_id, school_exports.c.id == job.id)
                    .values(progress=per_cent, due_at=datetime.now(UTC) + LEASE)
                )

        try:
            data = build_archive(self.engine, job.school_id, progress)
            with self.engine.begin() as conn:
                conn.execute(insert(school_export_files).values(school_id=job.school_id, id=job.id, data=data))
                QUEUE.settle(
                    conn,
                    key,
                    "done",
                    progress=100,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    finished_at=datetime.now(UTC),
                )
                _keep_latest(conn, job.school_id)
        except Exception as failure:  # a failed archive is said on the page; the worker goes on
            log.exception("the archive of %s failed", job.school_id)
            with self.engine.begin() as conn:
                QUEUE.settle(conn, key, "failed", error=str(failure)[:200], finished_at=datetime.now(UTC))
        return True

    async def aclose(self) -> None:
        """Nothing held between rounds."""
