"""The parent app (§33-1.6): a Progressive Web App of server-rendered pages under ``/app``.

    GET  /app/sign-in, POST /app/sign-in, POST /app/sign-out
    GET  /app/                           the guardian's children and their day so far (cloud_api.web.app_home:
                                         a student's own home for a student)
    GET  /app/children/{id}?month=       a child: today, the month, bans, consent, ratings
    POST /app/children/{id}/bans         forbid allergens (§33-1.7) and kinds of dish
    POST /app/children/{id}/consent      give or withdraw consent (§33-1.1)
    POST /app/children/{id}/rating       rate (or rate again) today's meal, 1–5 and a comment (§33-1.8)
    POST /app/children/{id}/platforms/{client}  withdraw (or allow again) a platform the child signs in to
    GET  /app/children/{id}/money…       the child's money: see :mod:`cloud_api.web.parent_money`
    GET  /app/menu?day=                  the school's menu with photos and prices (§33-1.3), and which dish each
                                         child (or the student) may not have; a student's too
    GET  /app/settings, POST /app/settings  language, which notices; the page subscribes to Web Push
    POST /app/settings/devices           stop notices to one of the account's devices (ten at most)
    GET  /app/sw.js, /app/manifest.webmanifest, /app/static/…

Server-rendered on purpose: a parent's phone may be old and its connection slow, pages work
without a script (only the push subscription needs one), and the text comes from the same
catalogs as the notices. Forms post back and redirect (no resubmission on reload); the session is
the API's own token in an HttpOnly, SameSite=Lax cookie, and a form post from another origin is
refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.api.schemas.reports import MONTH_PATTERN
from cloud_api.core.errors import DomainError
from cloud_api.integrations.oidc.grants import lift_block, platforms_of, withdraw
from cloud_api.integrations.oidc.students import CLAIM_NAMES
from cloud_api.push.subscriptions import (
    MAX_DEVICES,
    NoticeSettings,
    devices_of,
    forget_device_by_id,
    notice_settings,
    set_notice_settings,
)
from cloud_api.services import menus
from cloud_api.services.accounts import Role
from cloud_api.services.consent import Method, consent_history, set_consent
from cloud_api.services.dish_names import name_in
from cloud_api.services.family import child_day, child_month, children_of, rate_meal, ratings_given
from cloud_api.services.family_accounts import child_sign_in, set_child_second_factor
from cloud_api.services.prepaid import accounts_of
from cloud_api.web.pages import LANG_COOKIE, STATIC, SignInNeeded, known_failure, page, remember_language
from cloud_api.web.visitor import Visitor, VisitorDep
from shared.i18n import Translator, catalog_messages, translator
from shared.languages import language_of
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Allergen, DishCategory

__all__ = ["Family", "family_of", "home", "router"]

router = APIRouter(prefix="/app", include_in_schema=False)


class Family:
    """The signed-in guardian, as the pages need them."""

    def __init__(self, signed_in: Visitor) -> None:
        self.principal = signed_in.principal
        self.token = signed_in.token
        self.school_id: str = signed_in.school_id
        self.guardian_id: UUID = signed_in.person_id
        self.account_id: UUID = signed_in.account_id
        self._ = signed_in._


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def family_of(signed_in: VisitorDep) -> Family:
    """The signed-in guardian; a student (or anyone else) is sent to sign in as one."""
    if signed_in.role is not Role.GUARDIAN:
        raise SignInNeeded
    return Family(signed_in)


FamilyDep = Annotated[Family, Depends(family_of)]


# A form posted from another site is refused even if a browser sent the cookie along.
_same_origin = require_same_origin

RATING_FAILURES = frozenset({"bad_rating", "no_meal_to_rate", "comment_too_long"})


def _page(request: Request, name: str, _: Translator, **context: Any) -> HTMLResponse:
    # ``fetched``: when the page was made, for the banner its offline copy shows (static/sw.js).
    fetched = datetime.now(UTC).astimezone(LOCAL_TZ)
    return page(request, name, _, door="parent", door_path="app", fetched=fetched, **context)


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _today() -> date:
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()


def home(request: Request, family: Family) -> HTMLResponse:
    """The guardian's home (``/app/``, :mod:`cloud_api.web.app_home`): each child with what happened today."""
    today = _today()
    with _engine(request).connect() as conn:
        children = children_of(conn, family.school_id, family.guardian_id)
        language = family._.language
        days = {child.id: child_day(conn, family.school_id, child.id, today, language) for child in children}
        accounts = accounts_of(conn, family.school_id, [child.id for child in children])
    balances = {child.id: accounts[child.id].balance_tiyn if child.id in accounts else 0 for child in children}
    return _page(request, "parent_home.html", family._, children=children, days=days, today=today, balances=balances)


@router.get("/children/{child_id}", response_class=HTMLResponse)
def child_page(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    failed: str | None = None,
) -> HTMLResponse:
    """A child's day, month, bans, consent and today's rating form."""
    today = _today()
    shown = date.fromisoformat(f"{month}-01") if month else today
    with _engine(request).connect() as conn:
        found = children_of(conn, family.school_id, family.guardian_id, child_id)
        if not found:
            raise DomainError("not_found")
        language = family._.language
        day = child_day(conn, family.school_id, child_id, today, language)
        summary = child_month(conn, family.school_id, child_id, shown, language)
        bans = set(menus.bans_of(conn, family.school_id, [child_id]).get(child_id, []))
        kinds = set(menus.category_bans_of(conn, family.school_id, [child_id]).get(child_id, []))
        history = consent_history(conn, family.school_id, child_id)
        consent_record = next((row for row in history if row["method"] == "card"), None)
        account = accounts_of(conn, family.school_id, [child_id]).get(child_id)
        rated = ratings_given(conn, family.school_id, child_id, family.guardian_id, today)
    meals_today = list(dict.fromkeys(str(e["meal"]["period"]) for e in day if e["kind"] == "meal" and e["meal"]))
    previous_day = shown.replace(day=1) - timedelta(days=1)
    following_day = shown.replace(day=28) + timedelta(days=4)
    previous, following = previous_day.strftime("%Y-%m"), following_day.strftime("%Y-%m")
    return _page(
        request,
        "parent_child.html",
        family._,
        child=found[0],
        day=day,
        month=summary,
        shown=shown,
        bans=bans,
        kinds=kinds,
        consent_record=consent_record,
        allergens=list(Allergen),
        categories=list(DishCategory),
        meals_today=meals_today,
        rated=rated,
        today=today,
        previous=previous,
        previous_day=previous_day,
        following=following if following <= today.strftime("%Y-%m") else None,
        following_day=following_day,
        failed=known_failure(failed, RATING_FAILURES),
        balance_now=account.balance_tiyn if account else 0,
    )


@router.post("/children/{child_id}/bans", dependencies=[Depends(_same_origin)])
def bans_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    allergen: Annotated[list[Allergen] | None, Form()] = None,
    category: Annotated[list[DishCategory] | None, Form()] = None,
) -> Response:
    """Keep the ticked allergens and kinds of dish as the child's bans."""
    try:
        with _engine(request).begin() as conn:
            menus.set_food_bans(
                conn,
                family.school_id,
                child_id,
                family.guardian_id,
                allergen or [],
                category or [],
                actor=family.principal.actor,
            )
    except DomainError:
        raise DomainError("not_found") from None
    return _back(f"/app/children/{child_id}?saved=bans")


@router.post("/children/{child_id}/consent", dependencies=[Depends(_same_origin)])
def consent_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    given: Annotated[bool, Form()],
    method: Annotated[Method, Form()] = "card",
) -> Response:
    """Give or withdraw consent to attendance tracking by one identification method (card or QR code)."""
    try:
        with _engine(request).begin() as conn:
            set_consent(
                conn, family.school_id, child_id, family.guardian_id, given, actor=family.principal.actor, method=method
            )
    except DomainError:
        raise DomainError("not_found") from None
    return _back(f"/app/children/{child_id}?saved=consent")


@router.get("/children/{child_id}/sign-in", response_class=HTMLResponse)
def child_sign_in_page(request: Request, child_id: UUID, family: FamilyDep) -> HTMLResponse:
    """How the child signs in, and (under 16) the guardian's choice of a second factor for them.

    A page of its own, off the child's day: finding a child's account asks every shard on Citus.
    """
    with _engine(request).connect() as conn:
        found = children_of(conn, family.school_id, family.guardian_id, child_id)
        if not found:
            raise DomainError("not_found")
        sign_in = child_sign_in(conn, family.school_id, family.guardian_id, child_id, _today())
        # §33-1.13: a guardian of a child under 16 sees what each platform learns of the child.
        platforms = platforms_of(conn, sign_in.account_id) if sign_in and sign_in.under_16 else []
    labels = {name: family._(label) for name, label in CLAIM_NAMES.items()}
    return _page(
        request,
        "parent_child_sign_in.html",
        family._,
        child=found[0],
        child_sign_in=sign_in,
        platforms=platforms,
        claim_labels=labels,
    )


@router.post("/children/{child_id}/platforms/{client_id}", dependencies=[Depends(_same_origin)])
def child_platform_form(
    request: Request, child_id: UUID, client_id: str, family: FamilyDep, allowed: Annotated[bool, Form()]
) -> Response:
    """Withdraw the child's consent for a platform (the child cannot simply agree again), or allow it again."""
    now = datetime.now(UTC)
    with _engine(request).begin() as conn:
        child = child_sign_in(conn, family.school_id, family.guardian_id, child_id, now.date())
        if child is None or not child.under_16:
            raise DomainError("not_found")
        where = {"actor": family.principal.actor, "school_id": family.school_id, "now": now}
        if allowed:
            lift_block(conn, child.account_id, client_id, **where)
        else:
            withdraw(conn, child.account_id, client_id, by_guardian=True, **where)
    return _back(f"/app/children/{child_id}/sign-in?saved=platform")


@router.post("/children/{child_id}/second-factor", dependencies=[Depends(_same_origin)])
def child_second_factor_form(
    request: Request, child_id: UUID, family: FamilyDep, wanted: Annotated[bool, Form()]
) -> Response:
    """Turn the second factor of a child's account (under 16) on or off: the child sets it up at sign-in."""
    with _engine(request).begin() as conn:
        done = set_child_second_factor(
            conn,
            family.school_id,
            family.guardian_id,
            child_id,
            wanted,
            datetime.now(UTC),
            actor=family.principal.actor,
        )
    if not done:
        raise DomainError("not_found")
    return _back(f"/app/children/{child_id}/sign-in?saved=second_factor")


@router.post("/children/{child_id}/rating", dependencies=[Depends(_same_origin)])
def rating_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    period: Annotated[str, Form(max_length=64)],
    stars: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[str, Form(max_length=4000)] = "",  # the service says what is too long
) -> Response:
    """Rate today's meal of one period."""
    try:
        with _engine(request).begin() as conn:
            rate_meal(conn, family.school_id, child_id, family.guardian_id, _today(), period, stars, comment)
    except DomainError as error:
        if error.code == "not_the_guardian":
            raise DomainError("not_found") from None
        return _back(f"/app/children/{child_id}?failed={error.code}")
    return _back(f"/app/children/{child_id}?saved=rating")


@router.get("/menu", response_class=HTMLResponse)
def menu_page(request: Request, signed_in: VisitorDep, day: date | None = None) -> HTMLResponse:
    """The school's set meals of a day, with dishes, photos, allergens and prices (a guardian's or a
    student's school: the same page in the student's layout); under a dish, who of the family may not
    have it and why (a banned allergen or kind of dish)."""
    shown = day or _today()
    _ = signed_in._
    with _engine(request).connect() as conn:
        school = signed_in.school_id
        dishes = {d.id: d for d in menus.current_dishes(conn, school)}
        meals = [m for m in menus.menu_from(conn, school, shown) if m.day == shown]
        rules = menus.current_meal_rules(conn, school)
        # Whose bans mark the dishes: a student's own (their guardian's), or each of a guardian's children.
        if signed_in.student:
            eaters: dict[UUID, str | None] = {signed_in.person_id: None}
        else:
            eaters = {child.id: child.first_name for child in children_of(conn, school, signed_in.person_id)}
        bans = menus.bans_of(conn, school, list(eaters))
        kinds = menus.category_bans_of(conn, school, list(eaters))
    order = menus.period_order(rules[0] if rules else None)
    meals.sort(key=lambda m: (order.get(m.period, len(order)), m.period))  # by the time of day
    entries = [(m, [dishes[d] for d in m.dish_ids if d in dishes]) for m in meals]
    served = [dish for _meal, found in entries for dish in found]
    # Per dish: each child who may not have it (None: the student), with the allergens and kind it is refused for.
    refused: dict[UUID, list[tuple[str | None, str]]] = {}
    for person, name in eaters.items():
        for dish_id, why in menus.refused_dishes(served, bans.get(person, []), kinds.get(person, [])).items():
            refused.setdefault(dish_id, []).append((name, ", ".join(_(code) for code in why)))
    door = "student" if signed_in.student else "parent"  # the layout: each their own navigation
    fetched = datetime.now(UTC).astimezone(LOCAL_TZ)  # the offline copy's banner (the parent's layout has it)
    return page(
        request,
        "parent_menu.html",
        _,
        door=door,
        door_path="app",
        entries=entries,
        shown=shown,
        names={dish.id: name_in(dish.names, _.language) for dish in served},
        refused=refused,
        several=len(eaters) > 1,
        fetched=fetched,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, family: FamilyDep) -> HTMLResponse:
    """Language and notices; the page's script offers to subscribe this device; the devices notified."""
    with _engine(request).connect() as conn:
        found = notice_settings(conn, family.account_id)
        devices = [
            {"id": d.id, "browser": _browser(d.endpoint), "added": d.created_at.astimezone(LOCAL_TZ)}
            for d in devices_of(conn, family.school_id, family.account_id)
        ]
    current = {"entries": found.entries, "meals": found.meals, "money": found.money, "absences": found.absences}
    return _page(request, "parent_settings.html", family._, current=current, devices=devices, max_devices=MAX_DEVICES)


# The browsers behind the push services, as the settings page names a device.
_BROWSERS = {
    "fcm.googleapis.com": "Chrome",
    "updates.push.services.mozilla.com": "Firefox",
    "web.push.apple.com": "Safari",
}


def _browser(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or ""
    return "Edge" if host.endswith(".notify.windows.com") else _BROWSERS.get(host, host)


@router.post("/settings/devices", dependencies=[Depends(_same_origin)])
def remove_device_form(request: Request, family: FamilyDep, device: Annotated[UUID, Form()]) -> Response:
    """Stop notices to one of the account's devices (a lost phone, or to make room for a new one)."""
    with _engine(request).begin() as conn:
        forget_device_by_id(conn, family.school_id, family.account_id, device)
    return _back("/app/settings?removed=1")


@router.post("/settings", dependencies=[Depends(_same_origin)])
def settings_form(
    request: Request,
    family: FamilyDep,
    language: Annotated[str, Form(pattern="^(kk|ru|en)$")],
    entries: Annotated[bool, Form()] = False,
    meals: Annotated[bool, Form()] = False,
    money: Annotated[bool, Form()] = False,
    absences: Annotated[bool, Form()] = False,
) -> Response:
    """Keep the language and the notices wanted."""
    with _engine(request).begin() as conn:
        set_notice_settings(conn, family.account_id, NoticeSettings(language, entries, meals, money, absences))
    answer = _back("/app/settings?saved=1")
    remember_language(request, answer, language)  # the sign-in page, after a sign-out, speaks it too
    return answer


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The service worker, served from /app/ so that its scope is the whole app: it shows the notices, and
    keeps the day, month and menu pages for a phone without a connection (forgotten at sign-out)."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers={"Service-Worker-Allowed": "/app/"})


@router.get("/manifest.webmanifest")
def manifest() -> FileResponse:
    """The web app manifest: installable on a phone's home screen."""
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/static/{name}")
def static(name: Annotated[str, Path(pattern=r"^[a-z0-9-]+\.(js|css|svg)$")]) -> FileResponse:
    """The app's script, style and icon."""
    path = STATIC / name
    if "/" in name or not path.is_file():
        raise DomainError("not_found")
    return FileResponse(path)


def sign_in_redirect(request: Request, _: Exception) -> Response:
    """The exception handler for :class:`SignInNeeded`: to the sign-in form of the page's door."""
    return _back(f"/{_door_of(request)}/sign-in")


def _door_of(request: Request) -> str:
    return "office" if request.url.path.startswith("/office/") else "app"


def error_page(request: Request, status: int, code: str, message: str) -> Response:
    """A refusal as a page (of either door): what went wrong in the reader's language, and the way back."""
    language = request.cookies.get(LANG_COOKIE) or language_of(request.headers.get("accept-language"))
    _ = translator(language)
    door = _door_of(request)
    if code == "sign_in_required":
        return _back(f"/{door}/sign-in")
    if code == "invalid_request":
        # The API's "see the error of each field" means nothing to a parent: on a page the only
        # request fields are the address's.
        message = _("The address of this page has a mistake in it. Open the page again from the start page.")
    elif code in catalog_messages(_.language):
        message = _(code)
    base = "parent" if door == "app" else "office"
    answer = page(request, "page_error.html", _, door=base, door_path=door, message=message)
    answer.status_code = status
    return answer
