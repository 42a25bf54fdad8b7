"""The roster import in the office: upload the NEDB export, check what it will do, then import.

    GET  /office/schools/{school}/roster            the upload form and the history of imports
    POST /office/schools/{school}/roster/preview    the file read and checked: who is added, changed,
                                                    marked as gone, and every refused cell; nothing stored
    POST /office/schools/{school}/roster/import     the previewed file imported (its good rows)

Nothing is stored before the administrator says so: the preview runs the very import in its
``preview`` mode, and carries the file to the import form compressed in a hidden field (the page
keeps no state on the server, so that any API process behind the load balancer takes the second
step). The import reads the file again, so what is stored is what the file says, not what the
form claims.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from cloud_api.api.deps import require_same_origin
from cloud_api.api.uploads import read_upload
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import ROSTER_FILES_REFUSED, ROSTER_ROWS_REFUSED
from cloud_api.roster.nedb import FILE_KINDS, parse_export
from cloud_api.services.accounts import logins_of
from cloud_api.services.audit import AuditEntry, account_of_actor, audit_page, write_audit
from cloud_api.services.people import PeopleQuery, list_people
from cloud_api.services.roster_import import ImportReport, import_roster
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back
from cloud_api.web.office.journal import describe

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
SHOWN = 200  # names listed per kind of change on the preview; the rest are counted
_OTHER_SCHOOL_FROM = 20  # a school this big that knows nobody of a file is probably reading another's


@dataclass(frozen=True)
class Upload:
    """The file as the administrator chose it."""

    name: str
    data: bytes
    complete: bool

    @property
    def digest(self) -> str:
        """The file's SHA-256: the journal names the file by it."""
        return hashlib.sha256(self.data).hexdigest()

    def carried(self) -> str:
        """The file for the hidden field of the import form (a CSV shrinks a lot compressed)."""
        return base64.b64encode(zlib.compress(self.data, 6)).decode()


def _history(desk: Desk) -> list[dict[str, Any]]:
    with desk.engine.connect() as conn:
        rows = audit_page(conn, desk.school_id, entity="roster_import", limit=20)
        logins = logins_of(conn, filter(None, (account_of_actor(r["actor"]) for r in rows)))
    return [{**r, "login": logins.get(account_of_actor(r["actor"]), r["actor"])} for r in rows]


def _form_page(desk: Desk, errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    return desk.page(
        "office/roster.html",
        title=desk._("Roster import"),
        status=status,
        errors=errors or FormErrors(),
        history=_history(desk),
    )


@router.get("/office/schools/{school_id}/roster", response_class=HTMLResponse)
def roster_page(desk: AdminDesk) -> HTMLResponse:
    """Upload the NEDB export; the imports made so far and who made them."""
    return _form_page(desk)


def _refused(desk: Desk, code: str, status: int = 422) -> HTMLResponse:
    ROSTER_FILES_REFUSED.labels(code).inc()
    errors = FormErrors()
    errors.add("file", desk._(code))
    return _form_page(desk, errors, status)


@router.post("/office/schools/{school_id}/roster/preview", dependencies=_checked, response_model=None)
async def preview_form(desk: AdminDesk) -> Response:
    """What the file will do, before anything is stored."""
    limit = desk.request.app.state.settings.max_roster_bytes
    fields: dict[str, str] = {}
    try:
        name, data = await read_upload(desk.request, "file", limit, fields)
    except DomainError as refused:
        return _refused(desk, refused.code)
    if not name:
        return _refused(desk, "file_required")
    if not data:
        return _refused(desk, "empty_file")
    complete = fields.get("complete") == "yes"
    return await run_in_threadpool(_preview, desk, Upload(name, data, complete))


def _read(desk: Desk, upload: Upload) -> Any:
    kind = FILE_KINDS.get(PurePath(upload.name).suffix.lower())
    if kind is None:
        raise DomainError("unsupported_file_type")
    return parse_export(upload.data, kind)


def _preview(desk: Desk, upload: Upload) -> HTMLResponse:
    try:
        roster = _read(desk, upload)
    except DomainError as refused:
        return _refused(desk, refused.code)
    with desk.engine.connect() as conn:
        report = import_roster(conn, desk.school_id, roster, actor=desk.actor, complete=upload.complete, preview=True)
        school_size = _school_size(conn, desk.school_id)
    other_school = _another_school(report, roster, school_size)
    return desk.page(
        "office/roster_preview.html",
        title=desk._("Check the import"),
        upload=upload,
        report=report,
        groups=_groups(desk, report),
        refused=sorted(report.problems, key=lambda p: (p.row, p.column)),
        other_school=other_school,
        school_size=school_size,
        shown=SHOWN,
    )


def _another_school(report: ImportReport, roster: Any, school_size: int) -> bool:
    """A school of some size that knows none of the file's students and staff is probably reading another's."""
    listed = sum(1 for row in roster.rows if row.role.value != "guardian")
    return school_size >= _OTHER_SCHOOL_FROM and listed > 0 and report.known == 0


def _school_size(conn: Any, school_id: str) -> int:
    _rows, total = list_people(conn, school_id, PeopleQuery(roles=("student", "staff"), active=True, limit=1))
    return total


def _groups(desk: Desk, report: ImportReport) -> dict[str, list[dict[str, Any]]]:
    """The preview's lists: people added, changed (field by field), marked as gone."""
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for entry in report.entries:
        if entry.entity != "person":
            continue
        name = report.names.get(entry.entity_id, "")
        if entry.action == "create":
            added.append(
                {"name": name, "class": (entry.after or {}).get("class_name"), "role": (entry.after or {})["role"]}
            )
        elif entry.after == {"active": False}:
            gone.append({"name": name})
        else:
            changes = describe(desk, {"before": entry.before, "after": entry.after})
            changed.append({"id": entry.entity_id, "name": name, "changes": changes})
    return {"added": added, "changed": changed, "gone": gone}


@router.post("/office/schools/{school_id}/roster/import", dependencies=_checked, response_model=None)
async def import_form(desk: AdminDesk) -> Response:
    """Import the good rows of the previewed file; to the history with what it did."""
    limit = desk.request.app.state.settings.max_roster_bytes
    # The file rides in a field of the form: a form field's default bound (1 MiB) is below what a
    # roster may be, so this form is read with a bound of its own (the file, compressed, in base64).
    try:
        async with desk.request.form(max_fields=8, max_part_size=2 * limit + 4096) as form:
            carried, name, complete = (str(form.get(k) or "") for k in ("carried", "name", "complete"))
    except (MultiPartException, StarletteHTTPException):
        return _refused(desk, "bad_upload")
    try:
        unpack = zlib.decompressobj()
        data = unpack.decompress(base64.b64decode(carried, validate=True), limit + 1)
        if unpack.unconsumed_tail or len(data) > limit:
            return _refused(desk, "file_too_large")
    except (ValueError, zlib.error):
        return _refused(desk, "bad_upload")
    if not name or not data:
        return _refused(desk, "file_required")
    return await run_in_threadpool(_import, desk, Upload(name[:255], data, complete == "yes"))


def _import(desk: Desk, upload: Upload) -> Response:
    try:
        roster = _read(desk, upload)
        with desk.engine.begin() as conn:
            size = _school_size(conn, desk.school_id)
            report = import_roster(conn, desk.school_id, roster, actor=desk.actor, complete=upload.complete)
            if _another_school(report, roster, size):
                # Checked again, not only on the preview: a form sent again (or by hand) must not mark
                # the whole school as gone on another school's complete export. Raised to roll it back.
                raise DomainError("roster_of_another_school")
            summary = {
                "file": upload.name,
                "created": report.created,
                "updated": report.updated,
                "left": report.left,
                "refused_rows": len({p.row for p in report.problems}),
                "complete": upload.complete,
            }
            entry = AuditEntry("create", "roster_import", upload.digest, None, summary)
            write_audit(conn, desk.school_id, desk.actor, datetime.now(UTC), [entry])
    except DomainError as refused:
        return _refused(desk, refused.code)
    except IntegrityError:
        return _refused(desk, "roster_busy", 409)
    for problem in report.problems:
        ROSTER_ROWS_REFUSED.labels(problem.code).inc()
    return back(f"{desk.base}/roster?done=roster_imported")
