"""The student's own pages, at the app's door (``/app``), beside the parent app's.

    GET  /app/                 (through :mod:`cloud_api.web.app_home`) today: entries, exits, meals;
                               the prepaid balance; what a guardian set that applies
    GET  /app/menu             the school's menu (the parent app's page, in the student's layout)
    GET  /app/rate, POST …     rate today's meals (§33-1.8): stars and a comment; again to change it
    GET  /app/resources        digital resources to open with single sign-on (§33-1.13)
    POST /app/language         the language of the pages (and of the ``locale`` a platform may learn)

A student sees only their own things: every page reads the signed-in account's person, never an id
from the address. A guardian who opens a student's page gets "not found"; the guardian's own pages
send a student to sign in as a guardian. Pages work without a script, like the parent app's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.integrations.oidc.resources import resources_of
from cloud_api.integrations.oidc.web import issuer_of
from cloud_api.push.subscriptions import NoticeSettings, notice_settings, set_notice_settings
from cloud_api.services.consent import consents_of
from cloud_api.services.family import child_day
from cloud_api.services.family_accounts import is_under_16
from cloud_api.services.menus import bans_of, current_meal_rules
from cloud_api.services.people import find_person
from cloud_api.services.prepaid import balance_of
from cloud_api.services.ratings import COMMENT_MAX, own_ratings, rate_as_student
from cloud_api.web.office.console import FormErrors
from cloud_api.web.pages import LANG_COOKIE, page
from cloud_api.web.visitor import Visitor, VisitorDep
from shared.i18n import LANGUAGES, Translator
from shared.localtime import LOCAL_TZ

__all__ = ["StudentDep", "home", "router", "student_bans"]

router = APIRouter(prefix="/app", include_in_schema=False)
_checked = [Depends(require_same_origin)]
YEAR_S = 365 * 24 * 3600
# The words beside each number of stars (msgids), so that a star is never only a symbol.
STAR_WORDS = {1: "Very bad", 2: "Bad", 3: "So-so", 4: "Good", 5: "Very good"}


def _student(signed_in: VisitorDep) -> Visitor:
    if not signed_in.student:
        raise DomainError("not_found")  # a guardian's account has no student pages
    return signed_in


StudentDep = Annotated[Visitor, Depends(_student)]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _today() -> date:
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()


def _page(request: Request, name: str, _: Translator, *, status: int = 200, **context: Any) -> HTMLResponse:
    answer = page(request, name, _, door="student", door_path="app", **context)
    answer.status_code = status
    return answer


def student_bans(conn: Connection, student: Visitor) -> list[str]:
    """The allergens a guardian forbade the student (the canteen refuses such dishes), by name."""
    return sorted(bans_of(conn, student.school_id, [student.person_id]).get(student.person_id, []))


def home(request: Request, student: Visitor) -> HTMLResponse:
    """The student's home (``/app/``): today so far, the balance when meals are prepaid, a guardian's settings."""
    today = _today()
    with _engine(request).connect() as conn:
        person = find_person(conn, student.school_id, student.person_id) or {}
        day = child_day(conn, student.school_id, student.person_id, today, student._.language)
        consent = consents_of(conn, student.school_id, [student.person_id]).get(student.person_id, False)
        rules = current_meal_rules(conn, student.school_id)
        prepaid = rules is not None and rules[0].prepaid
        balance = balance_of(conn, student.school_id, student.person_id) if prepaid else None
        bans = student_bans(conn, student)
    meals_today = any(e["kind"] == "meal" and e["decision"] == "granted" for e in day)
    return _page(
        request,
        "student_home.html",
        student._,
        person=person,
        day=day,
        today=today,
        consent=consent,
        balance=balance,
        bans=bans,
        meals_today=meals_today,
    )


def _meals_had(day: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Today's meals the student had, by period: the dishes as the event recorded them."""
    had: dict[str, list[str]] = {}
    for e in day:
        if e["kind"] == "meal" and e["decision"] == "granted" and e["meal"]:
            had.setdefault(str(e["meal"].get("period", "")), []).extend(e["meal"].get("dishes") or [])
    return had


def _rating_page(
    request: Request,
    student: Visitor,
    *,
    errors: FormErrors | None = None,
    kept: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    today = _today()
    with _engine(request).connect() as conn:
        had = _meals_had(child_day(conn, student.school_id, student.person_id, today))
        given = own_ratings(conn, student.school_id, student.person_id, student.person_id, today)
    _ = student._
    return _page(
        request,
        "student_rate.html",
        _,
        status=status,
        today=today,
        had=had,
        given=given,
        errors=errors or FormErrors(),
        kept=kept or {},
        star_words={n: _(w) for n, w in STAR_WORDS.items()},
        comment_max=COMMENT_MAX,
    )


@router.get("/rate", response_class=HTMLResponse)
def rate_page(request: Request, student: StudentDep) -> HTMLResponse:
    """Today's meals, each with its rating form (the rating already given, to change)."""
    return _rating_page(request, student)


@router.post("/rate", dependencies=_checked, response_model=None)
def rate_form(
    request: Request,
    student: StudentDep,
    period: Annotated[str, Form(max_length=64)],
    stars: Annotated[str, Form(max_length=8)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",  # the service says what is too long
) -> Response:
    """Keep the student's rating of today's meal of ``period`` (a new one replaces theirs)."""
    _ = student._
    errors = FormErrors()
    number = int(stars) if stars.isdigit() else 0
    if not 1 <= number <= 5:
        errors.add(f"stars-{period}", _("Choose how many stars, from 1 to 5."))
    else:
        try:
            with _engine(request).begin() as conn:
                rate_as_student(conn, student.school_id, student.person_id, _today(), period, number, comment)
        except DomainError as refused:
            # A meal not had today has no form on the page: its error points at the page's lead.
            fields = {"comment_too_long": f"comment-{period}", "no_meal_to_rate": "meals"}
            field = fields.get(refused.code, f"stars-{period}")
            errors.add(field, _(refused.code))
    if errors:
        kept = {"period": period, "stars": number, "comment": comment}
        return _rating_page(request, student, errors=errors, kept=kept, status=422)
    return RedirectResponse(f"/app/rate?saved={quote(period)}#meal-{quote(period)}", status_code=303)


@router.get("/resources", response_class=HTMLResponse)
def resources_page(request: Request, student: StudentDep) -> HTMLResponse:
    """The platforms the student can open with single sign-on: agreed, not yet, or withdrawn by a guardian."""
    with _engine(request).connect() as conn:
        resources = resources_of(conn, student.account_id, student.school_id, issuer_of(request))
        under_16 = is_under_16(conn, student.school_id, student.person_id, _today())
    return _page(request, "student_resources.html", student._, resources=resources, under_16=under_16)


@router.post("/language", dependencies=_checked, response_model=None)
def language_form(
    request: Request, student: StudentDep, language: Annotated[str, Form(pattern="^(kk|ru|en)$")]
) -> Response:
    """Keep the student's language: the pages', and the ``locale`` a platform may learn if agreed."""
    with _engine(request).begin() as conn:
        kept = notice_settings(conn, student.account_id)
        set_notice_settings(conn, student.account_id, NoticeSettings(language, kept.entries, kept.meals))
    answer = RedirectResponse("/app/", status_code=303)
    if language in LANGUAGES:
        secure = request.url.scheme == "https"
        answer.set_cookie(LANG_COOKIE, language, max_age=YEAR_S, samesite="lax", secure=secure, path="/")
    return answer
