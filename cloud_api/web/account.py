"""One's own account in the pages, at both doors (``/app/account`` for families, ``/office/account`` for staff).

    GET  /{door}/account                          the password, the second factor, where one is signed in
    POST /{door}/account/password                 change the password (a wrong old one counts as a failed sign-in)
    POST /{door}/account/second-factor            set up the app (again): the QR page; its form confirms
    POST /{door}/account/second-factor/confirm    the first code: the recovery codes
    POST /{door}/account/second-factor/off        a family's account turns it off (staff cannot)
    POST /{door}/account/sessions/end             sign a device out
    POST /office/account/alert-language           the language of one's alerts (staff told of alerts)
    POST /office/account/alert-devices/remove     stop alerts to one of one's devices (a lost phone)
    GET  /office/                                 the office's start page
    GET  /office/sw.js                            the office's service worker (alerts by Web Push)

Staff told of alerts (a school's admin or IT, a region's IT, the deployment's admin) subscribe a
device on the account page: ``alert-push.js`` registers the service worker at ``/office/`` and calls
``/v1/me/staff-push-subscriptions``; without a script the page says the alerts come by e-mail.

Every change here is the account owner's own, from a signed-in page; forms post back and redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import Connection, Engine

from cloud_api.alerts.notify import ALERTED_ROLES, address_of
from cloud_api.api.deps import SESSION_COOKIE, client_ip, require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.push.subscriptions import (
    StaffDevice,
    forget_staff_device,
    notice_settings,
    set_notice_language,
    staff_devices_of,
)
from cloud_api.services.accounts import (
    Principal,
    Role,
    change_password,
    is_staff,
    roles_in_force,
    session_principal,
    set_second_factor_wanted,
)
from cloud_api.services.family_accounts import is_under_16
from cloud_api.services.passkeys import passkeys_of
from cloud_api.services.passwords import MAX_CHARS, MIN_CHARS_FAMILY, MIN_CHARS_STAFF, HashSlots
from cloud_api.services.second_factor import (
    begin_totp,
    confirm_totp,
    recovery_codes_left,
    remove_second_factors,
    totp_enrolled,
)
from cloud_api.services.sessions import end_sessions, sessions_of, token_hash
from cloud_api.web.pages import SignInNeeded, device_name, known_failure, page, page_language
from shared.i18n import translator
from shared.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"
ACCOUNT_FAILURES = frozenset(
    {
        "wrong_password",
        "login_locked",
        "password_too_short",
        "password_too_long",
        "password_contains_login",
        "password_too_common",
        "bad_code",
        "not_found",
        "alert_language_unknown",
    }
)
ACCOUNT_SAVED = frozenset(
    {
        "password_changed",
        "second_factor_on",
        "second_factor_off",
        "signed_out_there",
        "passkey_added",
        "passkey_removed",
        "alert_device_on",
        "alert_device_off",
        "alert_language_saved",
    }
)


# The push services of the common browsers, so that a device is named as its owner knows it.
_PUSH_SERVICES = {
    "fcm.googleapis.com": "Chrome",
    "updates.push.services.mozilla.com": "Firefox",
    "web.push.apple.com": "Safari",
}


@dataclass(frozen=True)
class AlertDevices:
    """The account page's "Alerts on this device" of a staff member told of alerts."""

    devices: list[StaffDevice]
    language: str  # of the notices: the one chosen, else the default every notice falls back to
    email: str | None

    @staticmethod
    def browser(device: StaffDevice) -> str:
        """The browser a device subscribed with (its push service's host when unknown)."""
        host = urlsplit(device.endpoint).hostname or ""
        known = [name for service, name in _PUSH_SERVICES.items() if host == service or host.endswith("." + service)]
        return known[0] if known else host


def _alert_devices(conn: Connection, account_id: Any) -> AlertDevices | None:
    if not any(g.role in ALERTED_ROLES for g in roles_in_force(conn, account_id)):
        return None
    language = notice_settings(conn, account_id).language or DEFAULT_LANGUAGE
    return AlertDevices(staff_devices_of(conn, account_id), language, address_of(conn, account_id))


@dataclass(frozen=True)
class Me:
    """The signed-in account of a page, with what the pages need of it."""

    principal: Principal
    token: str
    staff: bool
    door: str  # "app" or "office"

    @property
    def account_id(self) -> Any:
        """The account's id."""
        assert self.principal.account is not None
        return self.principal.account.id


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _me(request: Request) -> Me:
    door = request.url.path.split("/")[1]
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInNeeded
    with _engine(request).begin() as conn:  # a session's last-seen time is written now and then
        principal = session_principal(conn, token)
        if principal is None or principal.account is None:
            raise SignInNeeded
        staff = is_staff(conn, principal.account.id)
    if door == "office" and not staff:
        raise SignInNeeded
    return Me(principal, token, staff, door)


MeDep = Annotated[Me, Depends(_me)]


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _page(request: Request, me: Me, name: str, **context: Any) -> HTMLResponse:
    base = "parent" if me.door == "app" else "office"
    _ = translator(page_language(request))
    return page(request, name, _, door=base, door_path=me.door, signed_in=True, home=f"/{me.door}/", **context)


def office_home(request: Request, me: MeDep) -> HTMLResponse:
    """The office's start page: who is signed in, and where their work is."""
    with _engine(request).connect() as conn:
        roles = sorted(roles_in_force(conn, me.account_id), key=lambda g: (g.role.value, g.scope or ""))
    admin_of = [g.scope for g in roles if g.role is Role.SCHOOL_ADMIN]
    staff_of = [g.scope for g in roles if g.role is Role.CANTEEN_STAFF and g.scope not in admin_of]
    # Whose gateways' alerts the account hears of: a school's IT, a region's authority or IT.
    it_of = [g.scope for g in roles if g.role is Role.SCHOOL_IT and g.scope not in admin_of]
    alert_regions = sorted({g.scope for g in roles if g.role in (Role.REGION, Role.REGION_IT) and g.scope})
    assert me.principal.account is not None
    return _page(
        request,
        me,
        "office_home.html",
        login=me.principal.account.login,
        roles=roles,
        admin_of=admin_of,
        staff_of=staff_of,
        it_of=it_of,
        alert_regions=alert_regions,
        regions=[g.scope for g in roles if g.role is Role.REGION],
        ministry=any(g.role is Role.MINISTRY for g in roles),
        deployment=any(g.role is Role.DEPLOYMENT_ADMIN for g in roles),
    )


def account_page(request: Request, me: MeDep, failed: str | None = None, saved: str | None = None) -> HTMLResponse:
    """The password, the second factor and the sessions of the signed-in account."""
    now = datetime.now(UTC)
    with _engine(request).connect() as conn:
        listed = sessions_of(conn, me.account_id, now)
        has_totp = totp_enrolled(conn, me.account_id)
        left = recovery_codes_left(conn, me.account_id)
        keys = passkeys_of(conn, me.account_id)
        alerting = _alert_devices(conn, me.account_id) if me.door == "office" else None
    mine = token_hash(me.token)
    assert me.principal.account is not None
    return _page(
        request,
        me,
        "account.html",
        login=me.principal.account.login,
        sessions=[{**s, "device": device_name(s["user_agent"]), "current": s["token_hash"] == mine} for s in listed],
        has_totp=has_totp,
        passkeys=keys,
        this_device=device_name(request.headers.get("user-agent")),
        recovery_left=left,
        staff=me.staff,
        guardian_decides=_guardian_decides(request, me),
        min_chars=MIN_CHARS_STAFF if me.staff else MIN_CHARS_FAMILY,
        alerting=alerting,
        failed=known_failure(failed, ACCOUNT_FAILURES),
        saved=known_failure(saved, ACCOUNT_SAVED),
    )


def alert_language_form(request: Request, me: MeDep, language: Annotated[str, Form(max_length=8)]) -> Response:
    """Keep the language of one's alerts (by e-mail and on the devices)."""
    if language not in LANGUAGES:
        return _back("/office/account?failed=alert_language_unknown")
    with _engine(request).begin() as conn:
        set_notice_language(conn, me.account_id, language)
    return _back("/office/account?saved=alert_language_saved")


def alert_device_remove_form(request: Request, me: MeDep, endpoint: Annotated[str, Form(max_length=1000)]) -> Response:
    """Stop alerts to one of one's devices (a lost phone, an old computer): only one's own."""
    with _engine(request).begin() as conn:
        forget_staff_device(conn, me.account_id, endpoint)
    return _back("/office/account?saved=alert_device_off")


def office_service_worker() -> FileResponse:
    """The service worker of the office's pages: it shows the alerts pushed to a staff member's device."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers={"Service-Worker-Allowed": "/office/"})


async def password_form(
    request: Request,
    me: MeDep,
    old_password: Annotated[str, Form(max_length=MAX_CHARS)],
    new_password: Annotated[str, Form(max_length=MAX_CHARS)],
) -> Response:
    """Change the password; every session ends, so the browser signs in again with the new one."""
    slots: HashSlots = request.app.state.hash_slots
    try:
        reason = await slots.run(_change, _engine(request), me, old_password, new_password, client_ip(request))
    except DomainError as refused:
        return _back(f"/{me.door}/account?failed={refused.code}")
    if reason == "locked":
        return _back(f"/{me.door}/account?failed=login_locked")
    if reason != "ok":
        return _back(f"/{me.door}/account?failed=wrong_password")
    response = _back(f"/{me.door}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _change(engine: Engine, me: Me, old: str, new: str, ip: str | None) -> str:
    with engine.begin() as conn:
        return change_password(conn, me.account_id, old, new, actor=me.principal.actor, ip=ip)


def _guardian_decides(request: Request, me: Me) -> bool:
    # §5.11: a student under 16 has the second factor their guardian chose, not their own choice.
    account = me.principal.account
    if account is None or account.person_id is None or account.school_id is None:
        return False
    with _engine(request).connect() as conn:
        return is_under_16(conn, account.school_id, account.person_id, datetime.now(UTC).date())


def second_factor_form(request: Request, me: MeDep) -> HTMLResponse:
    """Set up the app (a first time, or on a new phone): the QR code of a new secret."""
    assert me.principal.account is not None
    with _engine(request).begin() as conn:
        enrolment = begin_totp(conn, me.account_id, me.principal.account.login, datetime.now(UTC), fresh=False)
    _ = translator(page_language(request))
    return _page(
        request,
        me,
        "sign_in_enrol.html",
        intro=_("Every sign-in will ask for a code from an app on your phone, after the password."),
        qr=segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2),
        secret=enrolment.secret,
        action=f"/{me.door}/account/second-factor/confirm",
        failed=None,
    )


def second_factor_confirm(request: Request, me: MeDep, code: Annotated[str, Form(max_length=32)]) -> Response:
    """The first code from the app: the second factor is on, and here are the recovery codes."""
    assert me.principal.account is not None
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        codes = confirm_totp(
            conn, me.account_id, code, now, actor=me.principal.actor, school_id=me.principal.account.school_id
        )
        if codes is None:
            return _back(f"/{me.door}/account?failed=bad_code")
        set_second_factor_wanted(
            conn, me.account_id, True, now, actor=me.principal.actor, school_id=me.principal.account.school_id
        )
    return _page(request, me, "recovery_codes.html", codes=codes, next_url=f"/{me.door}/account?saved=second_factor_on")


def second_factor_off(request: Request, me: MeDep) -> Response:
    """A family's account turns the second factor off (staff need one: they set up a new phone instead)."""
    if me.staff or _guardian_decides(request, me):
        return _back(f"/{me.door}/account")
    assert me.principal.account is not None
    now = datetime.now(UTC)
    school = me.principal.account.school_id
    with _engine(request).begin() as conn:
        remove_second_factors(conn, me.account_id, now, actor=me.principal.actor, school_id=school)
        set_second_factor_wanted(conn, me.account_id, False, now, actor=me.principal.actor, school_id=school)
    return _back(f"/{me.door}/account?saved=second_factor_off")


def end_session_form(request: Request, me: MeDep, session: Annotated[str, Form(max_length=64)]) -> Response:
    """Sign one of one's devices out (this one too: then back to the sign-in)."""
    with _engine(request).begin() as conn:
        ended = end_sessions(conn, me.account_id, datetime.now(UTC), hashed=session)
    if not ended:
        return _back(f"/{me.door}/account?failed=not_found")
    if session == token_hash(me.token):
        return _back(f"/{me.door}/sign-in")
    return _back(f"/{me.door}/account?saved=signed_out_there")


router.add_api_route("/office/", office_home, methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/office/sw.js", office_service_worker, methods=["GET"], response_class=FileResponse)
_same = [Depends(require_same_origin)]
router.add_api_route("/office/account/alert-language", alert_language_form, methods=["POST"], dependencies=_same)
router.add_api_route(
    "/office/account/alert-devices/remove", alert_device_remove_form, methods=["POST"], dependencies=_same
)
for _door in ("app", "office"):
    _checked = [Depends(require_same_origin)]
    router.add_api_route(f"/{_door}/account", account_page, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/{_door}/account/password", password_form, methods=["POST"], dependencies=_checked)
    router.add_api_route(f"/{_door}/account/second-factor", second_factor_form, methods=["POST"], dependencies=_checked)
    router.add_api_route(
        f"/{_door}/account/second-factor/confirm", second_factor_confirm, methods=["POST"], dependencies=_checked
    )
    router.add_api_route(
        f"/{_door}/account/second-factor/off", second_factor_off, methods=["POST"], dependencies=_checked
    )
    router.add_api_route(f"/{_door}/account/sessions/end", end_session_form, methods=["POST"], dependencies=_checked)
