"""An integration client's webhooks in the office: its subscriptions, made and looked after on its behalf.

    GET  /office/integrations/{client}/webhooks                          the subscriptions, and the form for one more
    POST /office/integrations/{client}/webhooks                          a new subscription; its secret, shown once
    POST /office/integrations/{client}/webhooks/{school}/{id}/rotate     a new secret, shown once (the old one
                                                                         signs beside it for a day)
    POST /office/integrations/{client}/webhooks/{school}/{id}/pause      stop delivering (deliveries wait)
    POST /office/integrations/{client}/webhooks/{school}/{id}/resume     deliver again, the oldest first
    GET  /office/integrations/{client}/webhooks/{school}/{id}/remove     check before removing
    POST /office/integrations/{client}/webhooks/{school}/{id}/remove     remove (waiting deliveries are cancelled)

For the deployment's administrator, and for the administrator of the client's region (a client of
the whole country is the deployment's). Each page shows, per subscription, its state and why it is
paused, its last delivery and what waits. Every change is journalled by the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, select

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import schools
from cloud_api.integrations.clients import IntegrationClient, get_client, schools_served
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import (
    KINDS,
    SCOPE_OF,
    Subscription,
    get_subscription,
    list_subscriptions,
    pause,
    remove,
    resume,
    rotate_secret,
    subscribe,
)
from cloud_api.services.accounts import Role
from cloud_api.web.account import Me, MeDep
from cloud_api.web.office.console import FormErrors, NavItem, desk_page, engine_of
from cloud_api.web.pages import page_language
from shared.i18n import Translator, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]


@dataclass(frozen=True)
class IntegrationDesk:
    """An integration client's page in the office, for the deployment's or its region's administrator."""

    request: Request
    me: Me
    _: Translator
    client: IntegrationClient

    @property
    def base(self) -> str:
        """Where the client's webhook pages are."""
        return f"/office/integrations/{self.client.client_id}/webhooks"

    @property
    def actor(self) -> str:
        """How the audit journal names the administrator."""
        return self.me.principal.actor

    @property
    def engine(self) -> Engine:
        """The cloud's database engine."""
        return engine_of(self.request)

    @property
    def label(self) -> str:
        """What the sections bar names the desk by."""
        return self.client.name

    def nav(self) -> list[NavItem]:
        """The places of this desk, the current one marked."""
        return [NavItem(self.base, self._("Webhooks"), True)]

    def page(self, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The office page ``name`` under ``title``."""
        return desk_page(self, name, title=title, status=status, **context)


ClientId = Annotated[str, Path(min_length=1, max_length=64)]


def _integration_desk(request: Request, me: MeDep, client_id: ClientId) -> IntegrationDesk:
    with engine_of(request).connect() as conn:
        client = get_client(conn, client_id)
    deployment = me.principal.has(Role.DEPLOYMENT_ADMIN, None)
    region = client is not None and client.region_id is not None and me.principal.has(Role.REGION, client.region_id)
    if client is None or not (deployment or region):
        raise DomainError("not_allowed")  # another region's client is answered as if there were none
    return IntegrationDesk(request, me, translator(page_language(request)), client)


Desk = Annotated[IntegrationDesk, Depends(_integration_desk)]


def _policy(desk: IntegrationDesk) -> ReceiverPolicy:
    return ReceiverPolicy(development=desk.request.app.state.settings.environment == "development")


def _kinds(client: IntegrationClient) -> list[str]:
    """The kinds the client's scopes let it hear of."""
    return [kind for kind in KINDS if SCOPE_OF[kind] in client.scopes]


def _page(
    desk: IntegrationDesk,
    *,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
    secret: tuple[Subscription, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with desk.engine.connect() as conn:
        subs = list_subscriptions(conn, client_id=desk.client.client_id)
        served = schools_served(conn, desk.client)
        names = dict(conn.execute(select(schools.c.school_id, schools.c.name)).all())
    return desk.page(
        "office/webhooks.html",
        title=desk._("Webhooks of {name}", name=desk.client.name),
        status=status,
        errors=errors or FormErrors(),
        form=form or {"school_id": "", "url": "", "kinds": _kinds(desk.client)},
        subscriptions=subs,
        schools=[(s, names.get(s, s)) for s in served],
        names=names,
        kinds=_kinds(desk.client),
        secret=secret,
        now=datetime.now(UTC),
    )


@router.get("/office/integrations/{client_id}/webhooks", response_class=HTMLResponse)
def webhooks_page(desk: Desk) -> HTMLResponse:
    """The client's subscriptions, and the form for one more."""
    return _page(desk)


@router.post("/office/integrations/{client_id}/webhooks", dependencies=_checked, response_model=None)
def new_subscription(
    desk: Desk,
    school_id: Annotated[str, Form(max_length=64)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    kinds: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Subscribe the client to a school's events; the page shows the secret once."""
    _ = desk._
    form = {"school_id": school_id, "url": url, "kinds": kinds or []}
    errors = FormErrors()
    try:
        with desk.engine.begin() as conn:
            made = subscribe(
                conn,
                client_id=desk.client.client_id,
                school_id=school_id,
                url=url,
                kinds=kinds or [],
                actor=desk.actor,
                now=datetime.now(UTC),
                policy=_policy(desk),
            )
    except DomainError as refused:
        for name, code in refused.errors or [("url", refused.code)]:
            errors.add(name, _(code))
        return _page(desk, errors=errors, form=form, status=422)
    return _page(desk, secret=made)


SubscriptionId = Annotated[UUID, Path()]
SchoolId = Annotated[str, Path(min_length=1, max_length=64)]


def _mine(desk: IntegrationDesk, school_id: str, subscription_id: UUID) -> Subscription:
    with desk.engine.connect() as conn:
        sub = get_subscription(conn, school_id, subscription_id)
    if sub is None or sub.client_id != desk.client.client_id:
        raise DomainError("not_found")
    return sub


@router.post(
    "/office/integrations/{client_id}/webhooks/{school_id}/{subscription_id}/rotate",
    dependencies=_checked,
    response_class=HTMLResponse,
)
def rotate(desk: Desk, school_id: SchoolId, subscription_id: SubscriptionId) -> HTMLResponse:
    """A new secret, shown once; the previous one signs beside it during the overlap."""
    sub = _mine(desk, school_id, subscription_id)
    with desk.engine.begin() as conn:
        secret = rotate_secret(conn, school_id, sub.id, actor=desk.actor, now=datetime.now(UTC))
    return _page(desk, secret=(sub, secret))


@router.post(
    "/office/integrations/{client_id}/webhooks/{school_id}/{subscription_id}/{action}",
    dependencies=_checked,
    response_model=None,
)
def pause_or_resume(
    desk: Desk, school_id: SchoolId, subscription_id: SubscriptionId, action: Annotated[str, Path()]
) -> Response:
    """Pause, resume or remove; back to the list with what was done."""
    sub = _mine(desk, school_id, subscription_id)
    do = {"pause": pause, "resume": resume, "remove": remove}.get(action)
    if do is None:
        raise DomainError("not_found")
    with desk.engine.begin() as conn:
        do(conn, school_id, sub.id, actor=desk.actor, now=datetime.now(UTC))
    if action == "resume":
        desk.request.app.state.background.wake("webhooks")
    done = {"pause": "webhook_paused", "resume": "webhook_resumed", "remove": "webhook_removed"}[action]
    return RedirectResponse(f"{desk.base}?done={done}", status_code=303)


@router.get(
    "/office/integrations/{client_id}/webhooks/{school_id}/{subscription_id}/remove", response_class=HTMLResponse
)
def remove_page(desk: Desk, school_id: SchoolId, subscription_id: SubscriptionId) -> HTMLResponse:
    """Check before removing: what goes with it."""
    sub = _mine(desk, school_id, subscription_id)
    with desk.engine.connect() as conn:
        name = conn.execute(select(schools.c.name).where(schools.c.school_id == school_id)).scalar() or school_id
    return desk.page(
        "office/webhook_remove.html",
        title=desk._("Remove the subscription?"),
        sub=sub,
        school_name=name,
        waiting=next((s.pending for s in _listed(desk) if s.id == sub.id), 0),
    )


def _listed(desk: IntegrationDesk) -> list[Subscription]:
    with desk.engine.connect() as conn:
        return list_subscriptions(conn, client_id=desk.client.client_id)
