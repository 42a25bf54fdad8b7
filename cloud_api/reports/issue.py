"""Issuing a month's report: a new immutable version only when its content changed, signed, saying what.

A report has a subject and a kind: a school's ``meals`` and ``attendance``, a region's ``region``
(its schools summed), and the whole deployment's ``country`` (subject ``KZ``), for the ministry.
A version once issued never changes. :func:`issue_report` builds the content from the rollups; if
its canonical JSON equals the newest version's, nothing is issued; otherwise the next version is
stored with its files, a signed manifest (:mod:`cloud_api.reports.manifest`, the deployment's
Ed25519 key) and the list of what changed since the version before (a late event, a correction).

Issuing is two steps: :func:`draft_report` builds and renders, reading only;
:func:`issue_draft` stores the version in the caller's transaction. :func:`issue_reports` drafts
several reports at once on connections of their own, which is how a school's two reports and the
month's thousands of schools are issued.

Gateways (of the school, the region's schools, every school) that have not been heard from since
the month ended may still hold its events: they are named in the version (``missing_gateways``), and
their events, when they come, make the next version.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, insert, select

from cloud_api.db.schema import gateways, packets, reports
from cloud_api.reports.build import attendance_report, meals_report
from cloud_api.reports.formats import FORMATS, canonical_json, render
from cloud_api.reports.manifest import build_manifest, load_private_key, sign_manifest
from cloud_api.reports.marks import KINDS, inputs_mark, note_mark, noted_mark, schools_of
from cloud_api.reports.region import region_report
from cloud_api.reports.store import VersionKey, read_file, read_files, store_files
from cloud_api.services.deployment_keys import ensure_key
from shared.localtime import month_end

__all__ = [
    "COUNTRY",
    "KINDS",
    "REGION_KINDS",
    "Draft",
    "Issued",
    "changes_between",
    "draft_report",
    "ensure_report_key",
    "issue_draft",
    "issue_report",
    "issue_reports",
    "missing_gateways",
    "needs_draft",
    "schools_of",
]

REGION_KINDS = ("region", "country")  # sums over schools, for a region and for the ministry
COUNTRY = "KZ"
REPORT_KEY = "reports"
# Each builds (conn, subject, month) as of ``now``: an attendance report issued before its month
# ends counts nobody absent from the days still to come; the others have nothing on such days.
_BUILDERS: dict[str, Callable[[Connection, str, str, datetime | None], dict[str, Any]]] = {
    "meals": lambda conn, subject, month, _now: meals_report(conn, subject, month),
    "attendance": attendance_report,
    "region": lambda conn, subject, month, _now: region_report(conn, subject, month),
    "country": lambda conn, _subject, month, _now: region_report(conn, None, month),
}


@dataclass(frozen=True)
class Issued:
    """The version in force after an issue, and whether this call made it."""

    subject: str
    month: str
    kind: str
    version: int
    new: bool
    changes: list[dict[str, Any]]
    missing_gateways: list[str]
    files: dict[str, bytes]
    manifest: bytes
    signature: str


def ensure_report_key(conn: Connection) -> Ed25519PrivateKey:
    """The deployment's report-signing key, made on first use and kept with the other keys."""
    (pem, _), _made = ensure_key(conn, REPORT_KEY, _new_report_key)
    return load_private_key(pem.encode())


def _new_report_key() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode(), base64.b64encode(key.public_key().public_bytes_raw()).decode()


def missing_gateways(conn: Connection, month: str, covered: Any, now: datetime | None = None) -> list[str]:
    """The gateways of the ``covered`` schools (see :func:`schools_of`) not heard from (a batch or a
    roster pull) since ``month`` ended; for a month still running, not within the last hour."""
    now = now or datetime.now(UTC)
    end = min(month_end(month), now - timedelta(hours=1))
    # One probe of (school, gateway, received_at) per gateway: the hourly job asks this of every
    # school, and grouping the whole packet log (every batch kept for the retention period) each time
    # would not do. Asked gateway by gateway, each probe on its school's shard: Citus runs no
    # subquery correlated with the gateways, a table copied to every worker.
    query = select(gateways.c.school_id, gateways.c.gateway_id)
    if covered is not None:
        query = query.where(gateways.c.school_id.in_(covered))
    silent = []
    for school_id, gateway_id in conn.execute(query).all():
        heard = select(packets.c.id).where(
            packets.c.school_id == school_id, packets.c.gateway_id == gateway_id, packets.c.received_at >= end
        )
        if conn.execute(heard.limit(1)).first() is None:
            silent.append(gateway_id)
    return sorted(silent)


def changes_between(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """Each day figure that differs, as {date, field, before, after}: what a corrected version says."""
    if before is None:
        return []
    old = _figures(before)
    new = _figures(after)
    return [
        {"date": day, "field": field, "before": old.get((day, field), 0), "after": value}
        for (day, field), value in sorted(new.items())
        if old.get((day, field), 0) != value
    ] + [
        {"date": day, "field": field, "before": value, "after": 0}
        for (day, field), value in sorted(old.items())
        if (day, field) not in new and value
    ]


def _figures(content: dict[str, Any]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for day in content["days"]:
        meals = day.get("categories") or day.get("meals") or {}  # a school's meals; a region's sums
        for category, cell in meals.items():
            for field, value in cell.items():
                out[(day["date"], f"{category}.{field}")] = value
        for field in ("students", "staff", "anonymous", "absent"):
            if field in day:
                out[(day["date"], field)] = day[field]
    for field, value in (content.get("rating") or {}).items():  # the month's, dated by the month
        out[(content["month"], f"rating.{field}")] = value
    return out


@dataclass(frozen=True)
class Draft:
    """A report built and rendered, not yet stored: what :func:`issue_draft` makes a version of."""

    subject: str
    month: str
    kind: str
    language: str
    content: dict[str, Any]
    digest: str  # SHA-256 of the canonical JSON
    mark: str  # of the inputs it was built from (:mod:`cloud_api.reports.marks`)
    based_on: int  # the newest version when drafted (0: none)
    files: dict[str, bytes] | None  # None: that version already says the same


def draft_report(
    conn: Connection, subject: str, month: str, kind: str, *, language: str = "ru", now: datetime | None = None
) -> Draft:
    """Build the report from the rollups as of ``now`` and render its files, writing nothing (a read
    connection will do); the files are left out when the newest version has the same content."""
    mark = inputs_mark(conn, subject, month, kind)  # before the data: a change it misses moves the mark
    content = _BUILDERS[kind](conn, subject, month, now)
    body = canonical_json(content)
    digest = hashlib.sha256(body).hexdigest()
    newest = _newest(conn, subject, month, kind)
    same = newest is not None and newest.content_sha256 == digest
    files = None if same else _files(content, body, language)
    return Draft(subject, month, kind, language, content, digest, mark, newest.version if newest else 0, files)


def issue_draft(conn: Connection, draft: Draft, *, now: datetime | None = None) -> Issued:
    """Store ``draft`` as the next version unless the newest one says the same; the version in force."""
    subject, month, kind = draft.subject, draft.month, draft.kind
    newest = _newest(conn, subject, month, kind)
    if (newest.version if newest else 0) != draft.based_on:
        # Another issue came in between, from data the draft may not have seen: stored as is, the
        # draft could undo a correction. Drafted again, here, it sees all that version saw.
        draft = draft_report(conn, subject, month, kind, language=draft.language, now=now)
    note_mark(conn, subject, month, kind, draft.mark, now or datetime.now(UTC))
    if newest is not None and newest.content_sha256 == draft.digest:
        return _issued(conn, newest, new=False)
    assert draft.files is not None, "a draft's files are left out only when it equals its newest version"
    previous = None
    if newest is not None:
        previous = json.loads(read_file(conn, _key(newest), f"{kind}.json") or b"null")
    version = 1 if newest is None else newest.version + 1
    missing = missing_gateways(conn, month, schools_of(kind, subject), now)
    about = {
        "report_id": f"{subject}/{month}/{kind}",
        "subject": subject,
        "month": month,
        "kind": kind,
        "version": version,
        "missing_gateways": missing,
    }
    manifest = build_manifest(draft.files, **about)
    signature = sign_manifest(ensure_report_key(conn), manifest)
    changes = changes_between(previous, draft.content)
    conn.execute(
        insert(reports).values(
            subject=subject,
            month=month,
            kind=kind,
            version=version,
            created_at=now or datetime.now(UTC),
            content_sha256=draft.digest,
            changes=changes,
            missing_gateways=missing,
            manifest=manifest,
            signature=signature,
        )
    )
    store_files(conn, VersionKey(subject, month, kind, version), draft.files)
    return Issued(subject, month, kind, version, True, changes, missing, draft.files, manifest, signature)


def needs_draft(conn: Connection, subject: str, month: str, kind: str) -> bool:
    """Whether the report's inputs moved since its last draft (or it was never drafted)."""
    return noted_mark(conn, subject, month, kind) != inputs_mark(conn, subject, month, kind)


def issue_report(
    conn: Connection, subject: str, month: str, kind: str, *, language: str = "ru", now: datetime | None = None
) -> Issued:
    """Build the report; store a new version if it differs from the newest one; the version in force."""
    return issue_draft(conn, draft_report(conn, subject, month, kind, language=language, now=now), now=now)


def issue_reports(
    engine: Engine,
    month: str,
    wanted: Iterable[tuple[str, str]],
    *,
    language: str = "ru",
    now: datetime | None = None,
    workers: int = 2,
) -> Iterator[Issued]:
    """Issue each (subject, kind) of ``wanted`` as :func:`issue_report` does, in order, each in a
    transaction of its own; the drafts are made ``workers`` at a time, on connections of their own.

    A draft waits on its database for much of its time (a school's meal sums are mostly SQL), and
    both drivers let other threads run meanwhile: a school's two reports take little more than the
    longer one. At most ``workers`` drafts are held beyond the one being stored (a school's files
    are megabytes; the 1st of the month drafts every school).
    """

    def draft(subject: str, kind: str) -> Draft:
        with engine.connect() as conn:
            return draft_report(conn, subject, month, kind, language=language, now=now)

    def store(made: Draft) -> Issued:
        with engine.begin() as conn:
            return issue_draft(conn, made, now=now)

    if workers <= 1 or engine.url.database in (None, "", ":memory:"):  # one in-memory database, one connection
        for subject, kind in wanted:
            yield store(draft(subject, kind))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="report-draft") as pool:
        pending: deque[Future[Draft]] = deque()
        for subject, kind in wanted:
            pending.append(pool.submit(draft, subject, kind))
            if len(pending) > workers:
                yield store(pending.popleft().result())
        while pending:
            yield store(pending.popleft().result())


def _newest(conn: Connection, subject: str, month: str, kind: str) -> Any:
    return conn.execute(
        select(reports)
        .where(reports.c.subject == subject, reports.c.month == month, reports.c.kind == kind)
        .order_by(reports.c.version.desc())
        .limit(1)
    ).first()


def _files(content: dict[str, Any], body: bytes, language: str) -> dict[str, bytes]:
    return {f"{content['kind']}.json": body} | render(content, tuple(f for f in FORMATS if f != "json"), language)


def _key(row: Any) -> VersionKey:
    return VersionKey(row.subject, row.month, row.kind, row.version)


def _issued(conn: Connection, row: Any, *, new: bool) -> Issued:
    return Issued(
        row.subject,
        row.month,
        row.kind,
        row.version,
        new,
        list(row.changes),
        list(row.missing_gateways),
        read_files(conn, _key(row)),
        bytes(row.manifest),
        row.signature,
    )
