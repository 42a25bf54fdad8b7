"""The school's accounts in the office: families' accounts and their letters, staff, resets, failed sign-ins.

    GET  /office/schools/{school}/accounts                     the accounts (search, role, state), failed sign-ins
    GET  /office/schools/{school}/accounts/{id}/disable        check; POST disables it (its sessions end)
    POST /office/schools/{school}/accounts/{id}/enable
    POST /office/schools/{school}/accounts/{id}/reset-code     a code for its owner to choose a new password
    GET  /office/schools/{school}/accounts/{id}/second-factor  check; POST removes the second factors
    POST /office/schools/{school}/accounts/staff               a staff member's account and its letter

Families' accounts are made from the roster with their activation letters (``/office/schools/{school}/letters``,
:mod:`cloud_api.web.activation`), a class at a time or the whole school.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import segno
from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.api.deps import require_same_origin
from cloud_api.api.routes.activation import activation_link
from cloud_api.core.errors import DomainError
from cloud_api.services.account_lifecycle import list_accounts, may_manage, set_active
from cloud_api.services.accounts import (
    Account,
    Role,
    accounts_of_people,
    create_account,
    failed_sign_ins,
    get_account,
    grant_role,
)
from cloud_api.services.consent import consent_overview
from cloud_api.services.one_time_codes import TTL, issue_code
from cloud_api.services.people import PeopleQuery, find_person, list_people
from cloud_api.services.second_factor import has_second_factor, remove_second_factors
from cloud_api.services.sessions import end_sessions, sessions_of
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back, listing
from cloud_api.web.office.downloads import personal_table_file

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
PER_PAGE = 50
STAFF_ROLES_HERE = ("school_admin", "canteen_staff", "school_it")  # what a school administrator makes staff accounts as


@router.get("/office/schools/{school_id}/accounts", response_class=HTMLResponse)
def accounts_page(
    desk: AdminDesk,
    q: Annotated[str, Query(max_length=100)] = "",
    role: Annotated[Literal["", "school_admin", "canteen_staff", "school_it", "guardian", "student"], Query()] = "",
    state: Annotated[Literal["active", "disabled", "all"], Query()] = "active",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """The school's accounts with their roles, second factor and devices signed in; the failed sign-ins."""
    if format:
        with desk.engine.connect() as conn:
            everyone = list_accounts(
                conn, desk.school_id, query=q or None, role=Role(role) if role else None, state=state, limit=100_000
            )
        _ = desk._
        headings = [_("Login"), _("Name"), _("Roles"), _("Second factor"), _("Active")]
        cells = (
            [
                a.login,
                a.display_name,
                ", ".join(_(g.role.value) for g in a.roles),
                _("on") if a.second_factor else _("off"),
                _("yes") if a.active else _("no"),
            ]
            for a in everyone
        )
        return personal_table_file(desk, format, f"accounts-{desk.school_id}", headings, cells)
    return _accounts(desk, q, role, state)


def _accounts(
    desk: Desk,
    q: str = "",
    role: str = "",
    state: str = "active",
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    place = listing(desk.request, {"q": q, "role": role, "state": state}, ("login",), per_page=PER_PAGE)
    now = datetime.now(UTC)
    with desk.engine.connect() as conn:
        everyone = list_accounts(
            conn,
            desk.school_id,
            query=q or None,
            role=Role(role) if role else None,
            state=state,  # type: ignore[arg-type]
            limit=100_000,
            second_factors=False,
        )
        shown = [
            replace(a, second_factor=has_second_factor(conn, a.id))
            for a in everyone[place.offset : place.offset + PER_PAGE]
        ]
        devices = {a.id: len(sessions_of(conn, a.id, now)) for a in shown}
        failures = failed_sign_ins(conn, desk.school_id, limit=50)
        classes = sorted({c for c in _classes(conn, desk.school_id) if c})
        staff, _total = list_people(
            conn, desk.school_id, PeopleQuery(role="staff", active=True, sort="name", limit=1000)
        )
        linked = accounts_of_people(conn, desk.school_id, [p["id"] for p in staff])
    return desk.page(
        "office/accounts.html",
        title=desk._("Accounts"),
        status=status,
        errors=errors or FormErrors(),
        form=form or {},
        staff_options=[(str(p["id"]), f"{p['last_name']} {p['first_name']}") for p in staff if p["id"] not in linked],
        accounts=shown,
        devices=devices,
        listing=place.counted(len(everyone)),
        failures=failures,
        classes=classes,
        me=desk.me.account_id,
    )


def _classes(conn: Any, school_id: str) -> list[str]:
    return [c.class_name for c in consent_overview(conn, school_id)]


@router.post("/office/schools/{school_id}/accounts/staff", dependencies=_checked, response_model=None)
def staff_account_form(
    desk: AdminDesk,
    login: Annotated[str, Form(max_length=254)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    person: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A staff member's account with its role, and the letter with their code for choosing a password."""
    form = {"login": login, "role": role, "person": person}
    errors = FormErrors()
    _ = desk._
    if not login.strip():
        errors.add("login", _("Enter the e-mail or phone number the staff member will sign in with."))
    if role not in STAFF_ROLES_HERE:
        errors.add("role", _("Choose the role."))
    person_id = None
    if person:
        with desk.engine.connect() as conn:
            person_id = _unlinked_staff(conn, desk.school_id, person)
        if person_id is None:
            errors.add("person", _("Choose a staff member of the roster who has no account yet."))
    if errors:
        return _accounts(desk, errors=errors, form=form, status=422)
    now = datetime.now(UTC)
    try:
        with desk.engine.begin() as conn:
            made = create_account(conn, login, actor=desk.actor, person_id=person_id, school_id=desk.school_id)
            grant_role(conn, made.id, Role(role), desk.school_id, actor=desk.actor)
            code = issue_code(conn, made.id, "activation", now, actor=desk.actor, school_id=desk.school_id)
    except DomainError as refused:
        errors.add("person" if refused.code == "unknown_person" else "login", _(refused.code))
        return _accounts(desk, errors=errors, form=form, status=422)
    return _letter(desk, made, code, "activation", now)


def _unlinked_staff(conn: Any, school_id: str, person: str) -> UUID | None:
    """The id of an active staff member of the school without an account, else None (a form names only those)."""
    try:
        person_id = UUID(person)
    except ValueError:
        return None
    row = find_person(conn, school_id, person_id)
    if row is None or row["role"] != "staff" or not row["active"]:
        return None
    return None if accounts_of_people(conn, school_id, [person_id]) else person_id


def _letter(desk: Desk, target: Account, code: str, purpose: str, now: datetime) -> HTMLResponse:
    link = activation_link(desk.request, desk.request.app.state.settings, target.id, code, purpose)
    title = desk._("A code for a new password") if purpose == "reset" else desk._("The account is made")
    return desk.page(
        "office/reset_code.html",
        title=title,
        target=target,
        code=code,
        link=link,
        qr=segno.make(link, error="m").svg_data_uri(scale=4, border=2),
        expires=now + TTL[purpose],
        purpose=purpose,
    )


def _managed(desk: Desk, account_id: UUID) -> Account:
    with desk.engine.connect() as conn:
        target = get_account(conn, account_id)
        if target is None or target.school_id != desk.school_id or not may_manage(conn, desk.me.principal, target):
            raise DomainError("unknown_account")
    return target


def _confirm(desk: Desk, account_id: UUID, what: str) -> HTMLResponse:
    target = _managed(desk, account_id)
    titles = {"disable": desk._("Disable the account"), "second-factor": desk._("Reset the second factor")}
    return desk.page("office/account_confirm.html", title=titles[what], target=target, what=what)


@router.get("/office/schools/{school_id}/accounts/{account_id}/disable", response_class=HTMLResponse)
def disable_page(desk: AdminDesk, account_id: UUID) -> HTMLResponse:
    """Check before disabling."""
    return _confirm(desk, account_id, "disable")


@router.post("/office/schools/{school_id}/accounts/{account_id}/disable", dependencies=_checked)
def disable_form(desk: AdminDesk, account_id: UUID) -> Response:
    """The account signs in no more; every device it is signed in on is signed out."""
    return _set_active(desk, account_id, False)


@router.post("/office/schools/{school_id}/accounts/{account_id}/enable", dependencies=_checked)
def enable_form(desk: AdminDesk, account_id: UUID) -> Response:
    """The account signs in again."""
    return _set_active(desk, account_id, True)


def _set_active(desk: Desk, account_id: UUID, active: bool) -> Response:
    _managed(desk, account_id)
    with desk.engine.begin() as conn:
        set_active(conn, desk.me.principal, account_id, active, datetime.now(UTC))
    return back(f"{desk.base}/accounts?state=all&done={'account_enabled' if active else 'account_disabled'}")


@router.post("/office/schools/{school_id}/accounts/{account_id}/reset-code", dependencies=_checked)
def reset_code_form(desk: AdminDesk, account_id: UUID) -> HTMLResponse:
    """A one-time code (and its link as a QR code) for the owner to choose a new password within the hour."""
    target = _managed(desk, account_id)
    now = datetime.now(UTC)
    with desk.engine.begin() as conn:
        code = issue_code(conn, account_id, "reset", now, actor=desk.actor, school_id=desk.school_id)
    return _letter(desk, target, code, "reset", now)


@router.get("/office/schools/{school_id}/accounts/{account_id}/second-factor", response_class=HTMLResponse)
def second_factor_page(desk: AdminDesk, account_id: UUID) -> HTMLResponse:
    """Check before removing the second factor."""
    return _confirm(desk, account_id, "second-factor")


@router.post("/office/schools/{school_id}/accounts/{account_id}/second-factor", dependencies=_checked)
def second_factor_form(desk: AdminDesk, account_id: UUID) -> Response:
    """For a staff member who lost their phone and recovery codes: they set up the app again at next sign-in."""
    target = _managed(desk, account_id)
    if target.id == desk.me.account_id:
        raise DomainError("not_allowed")  # one's own: that is what the recovery codes are for
    now = datetime.now(UTC)
    with desk.engine.begin() as conn:
        remove_second_factors(conn, account_id, now, actor=desk.actor, school_id=desk.school_id)
        end_sessions(conn, account_id, now)
    return back(f"{desk.base}/accounts?state=all&done=second_factor_reset")
