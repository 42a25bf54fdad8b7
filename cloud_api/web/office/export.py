"""The school's archive of everything it has (§12-13), asked for and downloaded in the office.

GET  /office/schools/{school}/export                    the archives made, with their progress
POST /office/schools/{school}/export                    ask for a new one (made in the background)
GET  /office/schools/{school}/export/{id}/archive.zip   download a finished one
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.core.security_events import record_personal_export
from cloud_api.services.accounts import logins_of
from cloud_api.services.audit import account_of_actor
from cloud_api.services.school_export import (
    SECTIONS,
    ExportWorker,
    export_file,
    exports_of,
    record_download,
    request_export,
)
from cloud_api.web.office.console import AdminDesk, back

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/office/schools/{school_id}/export", response_class=HTMLResponse)
def export_page(desk: AdminDesk) -> HTMLResponse:
    """What the archive holds, the archives made so far, and the one being made."""
    with desk.engine.connect() as conn:
        made = exports_of(conn, desk.school_id)
        logins = logins_of(conn, filter(None, (account_of_actor(e["requested_by"]) for e in made)))
    for export in made:
        export["who"] = logins.get(account_of_actor(export["requested_by"]), export["requested_by"])
    return desk.page(
        "office/export.html",
        title=desk._("Export of the school"),
        made=made,
        sections=[s.name for s in SECTIONS],
        making=any(e["state"] == "pending" for e in made),
    )


@router.post("/office/schools/{school_id}/export", dependencies=[Depends(require_same_origin)])
def export_form(desk: AdminDesk) -> Response:
    """Ask for the archive; the background worker makes it while the page shows its progress."""
    with desk.engine.begin() as conn:
        request_export(conn, desk.school_id, actor=desk.actor, now=datetime.now(UTC))
    background = getattr(desk.request.app.state, "background", None)
    if background is not None:
        background.wake(ExportWorker.name)
    return back(f"{desk.base}/export")


@router.get("/office/schools/{school_id}/export/{export_id}/archive.zip")
def export_download(desk: AdminDesk, export_id: UUID) -> Response:
    """A finished archive, as a ZIP file."""
    with desk.engine.begin() as conn:
        data = export_file(conn, desk.school_id, export_id)
        if data is None:
            raise DomainError("not_found")
        record_download(conn, desk.school_id, export_id, actor=desk.actor, now=datetime.now(UTC))
    name = f"mektep-{desk.school_id}-{export_id.hex[:8]}.zip"
    record_personal_export(desk.actor, desk.school_id, f"export-{export_id}", "zip")
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
