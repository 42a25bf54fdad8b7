"""The deployment administrator's desk: accounts for the regions' authorities and the ministry.

    GET  /office/deployment/accounts    the regions' and the ministry's accounts, and the form for a new one
    POST /office/deployment/accounts    a new account (login e-mail, name, region or ministry) and its letter

The deployment's administrator is an account holding ``Role.DEPLOYMENT_ADMIN`` (``mektep cloud admin-add
--deployment``). The new account gets the usual activation code (:mod:`cloud_api.services.one_time_codes`),
shown as a letter to hand over and mailed when the deployment sends mail; creating it, naming it,
granting its role and issuing its code are each journalled by the services that do them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.api.routes.activation import activation_link, mail_activation
from cloud_api.core.errors import DomainError
from cloud_api.reports.authority import regions_of
from cloud_api.services.account_lifecycle import authority_accounts, edit_account
from cloud_api.services.accounts import Role, create_account, grant_role
from cloud_api.services.mail import mail_configured
from cloud_api.services.one_time_codes import TTL, issue_code
from cloud_api.web.account import Me, MeDep
from cloud_api.web.office.console import FormErrors, NavItem, desk_page, engine_of
from cloud_api.web.pages import page_language
from shared.i18n import Translator, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
KINDS = ("region", "region_it", "ministry")


@dataclass(frozen=True)
class DeploymentDesk:
    """The deployment's administrator in the office."""

    request: Request
    me: Me
    _: Translator
    base: str = "/office/deployment"

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
        return self._("Deployment")

    def nav(self) -> list[NavItem]:
        """The places of this desk, the current one marked."""
        here = self.request.url.path
        places = [
            ("/accounts", self._("Regions and ministry accounts")),
            ("/fleet", self._("Gateways")),
            ("/alerts", self._("Alerts")),
            ("/nedb", self._("Exchange with the NEDB")),
            ("/integrations", self._("Outside systems")),
        ]
        return [NavItem(self.base + p, label, here.startswith(self.base + p)) for p, label in places]

    def page(self, name: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The office page ``name`` under ``title``."""
        return desk_page(self, name, title=title, status=status, **context)


def _deployment_desk(request: Request, me: MeDep) -> DeploymentDesk:
    if not me.principal.has(Role.DEPLOYMENT_ADMIN, None):
        raise DomainError("not_allowed")
    return DeploymentDesk(request, me, translator(page_language(request)))


Desk = Annotated[DeploymentDesk, Depends(_deployment_desk)]


def _accounts_page(
    desk: DeploymentDesk, errors: FormErrors | None = None, form: dict[str, str] | None = None, status: int = 200
) -> HTMLResponse:
    with desk.engine.connect() as conn:
        authorities = authority_accounts(conn)  # those few accounts only, chosen by the database
        regions = regions_of(conn)
    return desk.page(
        "office/deployment_accounts.html",
        title=desk._("Regions and ministry accounts"),
        status=status,
        errors=errors or FormErrors(),
        form=form or {"kind": "region"},
        accounts=authorities,
        regions=regions,
    )


@router.get("/office/deployment/accounts", response_class=HTMLResponse)
def accounts_page(desk: Desk) -> HTMLResponse:
    """The accounts of the regions' authorities and of the ministry, and the form for a new one."""
    return _accounts_page(desk)


@router.post("/office/deployment/accounts", dependencies=_checked, response_model=None)
def new_account(
    desk: Desk,
    login: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    region: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A region's or the ministry's account with its role, and the letter with its activation code."""
    _ = desk._
    form = {"login": login, "name": name, "kind": kind, "region": region}
    errors = FormErrors()
    login = login.strip()
    if "@" not in login or " " in login:
        errors.add("login", _("Enter the e-mail address the person will sign in with."))
    if not name.strip():
        errors.add("name", _("Enter the name of the person."))
    if kind not in KINDS:
        errors.add("kind", _("Choose whether the account is of a region or of the ministry."))
    with desk.engine.connect() as conn:
        regions = regions_of(conn)
    if kind in ("region", "region_it") and region not in regions:
        errors.add("region", _("Choose the region of the account."))
    if errors:
        return _accounts_page(desk, errors, form, status=422)
    now = datetime.now(UTC)
    try:
        with desk.engine.begin() as conn:
            made = create_account(conn, login, actor=desk.actor)
            edit_account(conn, desk.me.principal, made.id, now, display_name=name.strip(), email=made.login)
            if kind in ("region", "region_it"):
                grant_role(conn, made.id, Role(kind), region, actor=desk.actor)
            else:
                grant_role(conn, made.id, Role.MINISTRY, None, actor=desk.actor)
            code = issue_code(conn, made.id, "activation", now, actor=desk.actor, school_id=None)
    except DomainError as refused:
        errors.add("login", _(refused.code))
        return _accounts_page(desk, errors, form, status=422)
    settings = desk.request.app.state.settings
    link = activation_link(desk.request, settings, made.id, code, "activation")
    mailed = mail_configured(settings) and mail_activation(settings, made.login, made.login, code, link, _.language)
    return desk.page(
        "office/reset_code.html",
        title=_("The account is made"),
        target=made,
        code=code,
        link=link,
        qr=segno.make(link, error="m").svg_data_uri(scale=4, border=2),
        expires=now + TTL["activation"],
        purpose="activation",
        mailed=mailed,
    )
