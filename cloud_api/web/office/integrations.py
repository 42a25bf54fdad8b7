"""Outside systems in the office: the registry of e-diaries, e-textbooks and access-control systems.

    GET  {desk}/integrations                       every system of the desk: what it may do, reach, state, last call
    GET  {desk}/integrations/new                   the form to register a system
    POST {desk}/integrations/new                   register it: its secret, shown once
    GET  {desk}/integrations/{client}              one system: what it may do, its reach, its calls and refusals
    GET  {desk}/integrations/{client}/rotate       check before a new secret is made
    POST {desk}/integrations/{client}/rotate       a new secret, shown once; the old one works 24 hours more
    GET  {desk}/integrations/{client}/revoke       check before the system is revoked
    POST {desk}/integrations/{client}/revoke       revoke it: nothing works for it from now on
    GET  /office/schools/{school}/integrations     for a school's administrator: who may read the school's data

``{desk}`` is ``/office/deployment`` (the deployment's administrator: every system, any region) or
``/office/regions/{region}`` (the region's education authority: the systems of its region). The
registry itself (validation, secrets, journal) is :mod:`cloud_api.integrations.clients`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import schools
from cloud_api.integrations.calls import last_calls, recent_calls
from cloud_api.integrations.clients import (
    CLAIMS,
    DEFAULT_RATE_PER_MINUTE,
    ROTATION_OVERLAP,
    SCOPES,
    IntegrationClient,
    create_client,
    get_client,
    list_clients,
    may_serve_school,
    revoke_client,
    rotate_secret,
)
from cloud_api.integrations.oidc.grants import students_agreed
from cloud_api.reports.authority import regions_of
from cloud_api.services.accounts import Role
from cloud_api.web.account import MeDep
from cloud_api.web.office.authority import AuthorityDesk
from cloud_api.web.office.console import AdminDesk, FormErrors, back
from cloud_api.web.office.deployment import Desk as DeploymentDesk
from cloud_api.web.office.integration_words import IntegrationWords
from cloud_api.web.pages import page_language
from shared.i18n import translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
RegionId = Annotated[str, Path(min_length=1, max_length=64)]
ClientId = Annotated[str, Path(min_length=1, max_length=64)]
TOKEN_PATH = "/v1/oauth/token"
CALLS_SHOWN, REFUSALS_SHOWN = 50, 20
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Registry:
    """The desk a registry page is read at, and the systems it manages (a region's, or every one)."""

    desk: Any  # DeploymentDesk or AuthorityDesk
    region_id: str | None  # None: the deployment's desk, every region

    @property
    def base(self) -> str:
        """The address of the registry's pages."""
        return f"{self.desk.base}/integrations"

    @property
    def engine(self) -> Engine:
        """The cloud's database engine."""
        return self.desk.engine  # type: ignore[no-any-return]

    def clients(self) -> list[IntegrationClient]:
        """The systems of this desk, by name."""
        with self.engine.connect() as conn:
            if self.region_id is None:
                return list_clients(conn, everything=True)
            return list_clients(conn, region_id=self.region_id)

    def client(self, client_id: str) -> IntegrationClient:
        """The system ``client_id`` if this desk manages it; ``not_found`` else (another region's reads the same)."""
        with self.engine.connect() as conn:
            found = get_client(conn, client_id)
        if found is None or (self.region_id is not None and found.region_id != self.region_id):
            raise DomainError("not_found")
        return found

    def page(self, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The office page ``name`` with the registry's words."""
        return self.desk.page(  # type: ignore[no-any-return]
            name, title=title, status=status, iw=IntegrationWords(self.desk._), registry=self, **context
        )


def _deployment_registry(desk: DeploymentDesk) -> Registry:
    return Registry(desk, None)


def _region_registry(request: Request, me: MeDep, region_id: RegionId) -> Registry:
    # The region's education authority registers its systems; the ministry and the region's IT do not.
    if not me.principal.has(Role.REGION, region_id):
        raise DomainError("not_allowed")
    return Registry(AuthorityDesk(request, me, region_id, translator(page_language(request))), region_id)


DeploymentRegistry = Annotated[Registry, Depends(_deployment_registry)]
RegionRegistry = Annotated[Registry, Depends(_region_registry)]


# -- the pages, each once for both desks ---------------------------------------------------------------


def _list(registry: Registry) -> HTMLResponse:
    clients = registry.clients()
    with registry.engine.connect() as conn:
        last = last_calls(conn, [c.client_id for c in clients])
    _ = registry.desk._
    return registry.page(
        "office/integrations.html", title=_("Outside systems"), clients=clients, last=last, now=datetime.now(UTC)
    )


def _empty_form(registry: Registry) -> dict[str, Any]:
    return {
        "name": "",
        "region": registry.region_id or "",
        "school_ids": "",
        "redirect_uris": "",
        "initiate_login_uri": "",
        "claims": [],
        "scopes": [],
        "rate_per_minute": str(DEFAULT_RATE_PER_MINUTE),
    }


def _form_page(
    registry: Registry, form: dict[str, Any], errors: FormErrors | None = None, status: int = 200
) -> HTMLResponse:
    with registry.engine.connect() as conn:
        regions = regions_of(conn) if registry.region_id is None else {}
    _ = registry.desk._
    return registry.page(
        "office/integration_new.html",
        title=_("Register an outside system"),
        status=status,
        form=form,
        errors=errors or FormErrors(),
        regions=regions,
        scopes=SCOPES,
        claims=CLAIMS,
    )


def _lines(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text) if part]


def _register(registry: Registry, request: Request, form: dict[str, Any]) -> Response:
    _ = registry.desk._
    errors = FormErrors()
    try:
        rate = int(form["rate_per_minute"].strip())
    except ValueError:
        rate = 0
    region = registry.region_id or (form["region"] or None)
    if registry.region_id is None and region is not None:
        with registry.engine.connect() as conn:
            if region not in regions_of(conn):
                errors.add("region", _("Choose a region from the list."))
    if not errors:
        try:
            with registry.engine.begin() as conn:
                client, secret = create_client(
                    conn,
                    name=form["name"],
                    actor=registry.desk.actor,
                    now=datetime.now(UTC),
                    redirect_uris=_lines(form["redirect_uris"]),
                    initiate_login_uri=form["initiate_login_uri"],
                    claims=form["claims"],
                    scopes=form["scopes"],
                    region_id=region,
                    school_ids=_lines(form["school_ids"]),
                    rate_per_minute=rate,
                )
        except DomainError as refused:
            for field, code in refused.errors or [("name", refused.code)]:
                errors.add(field, _(code))  # the form's fields are named as the registry's
    if errors:
        return _form_page(registry, form, errors, status=422)
    return _secret_page(registry, request, client, secret, title=_("The system is registered"), until=None)


def _secret_page(
    registry: Registry, request: Request, client: IntegrationClient, secret: str, *, title: str, until: datetime | None
) -> HTMLResponse:
    answer = registry.page(
        "office/integration_secret.html",
        title=title,
        client=client,
        secret=secret,
        token_url=str(request.base_url).rstrip("/") + TOKEN_PATH,
        until=until,
    )
    answer.headers.update(_NO_STORE)  # the secret stays in no cache, and Back does not show it again
    return answer


def _detail(registry: Registry, client_id: str) -> HTMLResponse:
    client = registry.client(client_id)
    with registry.engine.connect() as conn:
        calls = recent_calls(conn, client_id, limit=CALLS_SHOWN)
        refusals = recent_calls(conn, client_id, limit=REFUSALS_SHOWN, refused_only=True)
        names = dict(
            conn.execute(
                select(schools.c.school_id, schools.c.name).where(schools.c.school_id.in_(client.school_ids))
            ).all()
        )
        agreed = students_agreed(conn, client_id) if client.redirect_uris else None
    return registry.page(
        "office/integration.html",
        title=client.name,
        client=client,
        calls=calls,
        refusals=refusals,
        school_names=names,
        now=datetime.now(UTC),
        webhooks_url=f"/office/integrations/{client.client_id}/webhooks" if client.scopes else None,
        students_agreed=agreed,
    )


def _confirm(registry: Registry, client_id: str, what: str) -> HTMLResponse:
    client = registry.client(client_id)
    if not client.active:
        return back(f"{registry.base}/{client_id}")  # type: ignore[return-value]
    _ = registry.desk._
    title = (
        _("Make a new secret for {name}?", name=client.name)
        if what == "rotate"
        else _("Revoke {name}?", name=client.name)
    )
    return registry.page(
        "office/integration_confirm.html",
        title=title,
        client=client,
        what=what,
        overlap_hours=int(ROTATION_OVERLAP.total_seconds() // 3600),
    )


def _rotate(registry: Registry, request: Request, client_id: str) -> Response:
    client = registry.client(client_id)
    if not client.active:
        return back(f"{registry.base}/{client_id}")
    now = datetime.now(UTC)
    with registry.engine.begin() as conn:
        secret = rotate_secret(conn, client_id, actor=registry.desk.actor, now=now)
    _ = registry.desk._
    return _secret_page(
        registry,
        request,
        client,
        secret,
        title=_("A new secret for {name}", name=client.name),
        until=now + ROTATION_OVERLAP,
    )


def _revoke(registry: Registry, client_id: str) -> Response:
    registry.client(client_id)
    with registry.engine.begin() as conn:
        revoke_client(conn, client_id, actor=registry.desk.actor, now=datetime.now(UTC))
    return back(f"{registry.base}/{client_id}?done=integration_revoked")


async def _form_of(request: Request) -> dict[str, Any]:
    data = await request.form()

    def text(name: str, limit: int) -> str:
        value = data.get(name, "")
        return value[:limit] if isinstance(value, str) else ""

    return {
        "name": text("name", 200),
        "region": text("region", 64),
        "school_ids": text("school_ids", 20_000),
        "redirect_uris": text("redirect_uris", 20_000),
        "initiate_login_uri": text("initiate_login_uri", 2_000),
        "claims": [c for c in data.getlist("claims") if isinstance(c, str)][:20],
        "scopes": [s for s in data.getlist("scopes") if isinstance(s, str)][:20],
        "rate_per_minute": text("rate_per_minute", 12),
    }


# -- the deployment's desk -----------------------------------------------------------------------------


@router.get("/office/deployment/integrations", response_class=HTMLResponse)
def deployment_list(registry: DeploymentRegistry) -> HTMLResponse:
    """Every registered outside system."""
    return _list(registry)


@router.get("/office/deployment/integrations/new", response_class=HTMLResponse)
def deployment_new(registry: DeploymentRegistry) -> HTMLResponse:
    """The form to register a system of any region (or of every region)."""
    return _form_page(registry, _empty_form(registry))


@router.post("/office/deployment/integrations/new", dependencies=_checked, response_model=None)
async def deployment_register(registry: DeploymentRegistry, request: Request) -> Response:
    """Register a system; its secret, shown once."""
    form = await _form_of(request)
    return await _threaded(_register, registry, request, form)


@router.get("/office/deployment/integrations/{client_id}", response_class=HTMLResponse)
def deployment_detail(registry: DeploymentRegistry, client_id: ClientId) -> HTMLResponse:
    """One system: what it may do, its reach, its recent calls and refusals."""
    return _detail(registry, client_id)


@router.get("/office/deployment/integrations/{client_id}/{what}", response_class=HTMLResponse)
def deployment_confirm(
    registry: DeploymentRegistry, client_id: ClientId, what: Annotated[str, Path(pattern="^(rotate|revoke)$")]
) -> HTMLResponse:
    """Check before a new secret is made, or before the system is revoked."""
    return _confirm(registry, client_id, what)


@router.post("/office/deployment/integrations/{client_id}/rotate", dependencies=_checked, response_model=None)
def deployment_rotate(registry: DeploymentRegistry, request: Request, client_id: ClientId) -> Response:
    """A new secret, shown once; the old one keeps working for 24 hours."""
    return _rotate(registry, request, client_id)


@router.post("/office/deployment/integrations/{client_id}/revoke", dependencies=_checked, response_model=None)
def deployment_revoke(registry: DeploymentRegistry, client_id: ClientId) -> Response:
    """Revoke the system: no token, no call, no sign-in from now on."""
    return _revoke(registry, client_id)


# -- a region's desk -----------------------------------------------------------------------------------


@router.get("/office/regions/{region_id}/integrations", response_class=HTMLResponse)
def region_list(registry: RegionRegistry) -> HTMLResponse:
    """The region's outside systems."""
    return _list(registry)


@router.get("/office/regions/{region_id}/integrations/new", response_class=HTMLResponse)
def region_new(registry: RegionRegistry) -> HTMLResponse:
    """The form to register a system of the region."""
    return _form_page(registry, _empty_form(registry))


@router.post("/office/regions/{region_id}/integrations/new", dependencies=_checked, response_model=None)
async def region_register(registry: RegionRegistry, request: Request) -> Response:
    """Register a system of the region; its secret, shown once."""
    form = await _form_of(request)
    return await _threaded(_register, registry, request, form)


@router.get("/office/regions/{region_id}/integrations/{client_id}", response_class=HTMLResponse)
def region_detail(registry: RegionRegistry, client_id: ClientId) -> HTMLResponse:
    """One system of the region."""
    return _detail(registry, client_id)


@router.get("/office/regions/{region_id}/integrations/{client_id}/{what}", response_class=HTMLResponse)
def region_confirm(
    registry: RegionRegistry, client_id: ClientId, what: Annotated[str, Path(pattern="^(rotate|revoke)$")]
) -> HTMLResponse:
    """Check before a new secret is made, or before the system is revoked."""
    return _confirm(registry, client_id, what)


@router.post("/office/regions/{region_id}/integrations/{client_id}/rotate", dependencies=_checked, response_model=None)
def region_rotate(registry: RegionRegistry, request: Request, client_id: ClientId) -> Response:
    """A new secret, shown once; the old one keeps working for 24 hours."""
    return _rotate(registry, request, client_id)


@router.post("/office/regions/{region_id}/integrations/{client_id}/revoke", dependencies=_checked, response_model=None)
def region_revoke(registry: RegionRegistry, client_id: ClientId) -> Response:
    """Revoke the system."""
    return _revoke(registry, client_id)


# -- a school's administrator: who may read the school's data ------------------------------------------


@router.get("/office/schools/{school_id}/integrations", response_class=HTMLResponse)
def school_integrations(desk: AdminDesk) -> HTMLResponse:
    """The outside systems that may use this school's data now (read it, or sign its students in), and what."""
    with desk.engine.connect() as conn:
        systems = [c for c in list_clients(conn, everything=True) if may_serve_school(conn, c, desk.school_id)]
    return desk.page(
        "office/school_integrations.html",
        title=desk._("Outside systems"),
        systems=systems,
        iw=IntegrationWords(desk._),
    )


async def _threaded(func: Any, *args: Any) -> Response:
    return await run_in_threadpool(func, *args)  # type: ignore[no-any-return]
