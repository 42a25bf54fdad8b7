"""A child's money in the parent app: the balance, the daily limit, the low-balance notice, the month's statement.

    GET  /app/children/{id}/money?month=YYYY-MM   the page (?format=csv|xlsx: the month's statement as a file)
    POST /app/children/{id}/money/limit           set, change (``action=save``) or remove (``action=remove``)
    POST /app/children/{id}/money/notice          the low-balance threshold: set (``save``) or turn off (``off``)

Amounts are read as a parent types them ("1 500", "1500,50", "1 500 ₸") by the office's own rule
(:func:`cloud_api.web.office.amounts.typed_tenge`); a form with a mistake comes back with the error
summary and the error beside its field, nothing stored. The statement is the office's
(:func:`cloud_api.services.statements.statement_between`), one month at a time, and its files are
made by the office's :func:`cloud_api.web.office.statement_files.statement_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection, Engine

from cloud_api.api.deps import require_same_origin
from cloud_api.api.schemas.accounts import ChildPublic
from cloud_api.api.schemas.reports import MONTH_PATTERN
from cloud_api.core.errors import DomainError
from cloud_api.services.family import children_of
from cloud_api.services.low_balance import MAX_THRESHOLD_TIYN, set_threshold, threshold_of
from cloud_api.services.prepaid import balance_of, set_daily_limit
from cloud_api.services.schools import school_name
from cloud_api.services.statements import statement_between
from cloud_api.web.office.amounts import MAX_PRICE_TIYN, typed_tenge
from cloud_api.web.office.console import FormErrors
from cloud_api.web.office.statement_files import Heading, describe, kind_words, statement_file
from cloud_api.web.pages import page
from cloud_api.web.parent import Family, FamilyDep
from shared.i18n import Translator
from shared.localtime import LOCAL_TZ, local_date

__all__ = ["MAX_LIMIT_TIYN", "router"]

router = APIRouter(prefix="/app", include_in_schema=False)
_checked = [Depends(require_same_origin)]
MAX_LIMIT_TIYN = MAX_PRICE_TIYN  # 100 000 ₸ a day: more is a zero typed too many
Month = Annotated[str | None, Query(pattern=MONTH_PATTERN)]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _today() -> date:
    return local_date(datetime.now(UTC))


def _typed(_: Translator, tiyn: int | None) -> str:
    """An amount as the form shows it back, for the parent to change: ``1 500`` (no ₸: the label says it)."""
    return "" if tiyn is None else _.money(tiyn).removesuffix("\u00a0₸")


@dataclass
class MoneyForms:
    """What the page's two forms show: the values (as typed, when sent back) and their errors."""

    limit: str | None = None
    threshold: str | None = None
    errors: FormErrors | None = None


def _child(conn: Connection, family: Family, child_id: UUID) -> ChildPublic:
    found = children_of(conn, family.school_id, family.guardian_id, child_id)
    if not found:
        raise DomainError("not_found")  # another family's child is as if there were none
    return found[0]


def _money_page(
    request: Request,
    family: Family,
    child_id: UUID,
    month: str | None,
    forms: MoneyForms,
    *,
    status: int = 200,
    format: Literal["", "csv", "xlsx"] = "",
) -> Response:
    _ = family._
    today = _today()
    first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    with _engine(request).connect() as conn:
        child = _child(conn, family, child_id)
        balance = balance_of(conn, family.school_id, child_id)
        threshold = threshold_of(conn, family.school_id, child_id)
        statement = statement_between(conn, family.school_id, child_id, first, last)
        school = school_name(conn, family.school_id) if format else ""
    name = f"{child.last_name} {child.first_name}"
    if format:
        heading = Heading(school, name, child.class_name, datetime.now(LOCAL_TZ))
        return statement_file(statement, heading, format, f"statement-{child.first_name}-{first:%Y-%m}", _)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = last + timedelta(days=1)
    answer = page(
        request,
        "parent_money.html",
        _,
        door="parent",
        door_path="app",
        child=child,
        balance_now=balance.account.balance_tiyn,
        limit_tiyn=balance.daily_limit_tiyn,
        threshold=threshold,
        limit_value=forms.limit if forms.limit is not None else _typed(_, balance.daily_limit_tiyn),
        threshold_value=forms.threshold if forms.threshold is not None else _typed(_, threshold.tiyn),
        errors=forms.errors or FormErrors(),
        statement=statement,
        lines=[(line, describe(line, _)) for line in statement.lines],
        kinds=kind_words(_),
        month=first,
        month_query=f"{first:%Y-%m}",
        previous=previous,
        following=following if following <= today else None,
        saved=request.query_params.get("saved") in ("limit", "notice"),
    )
    answer.status_code = status
    return answer


@router.get("/children/{child_id}/money", response_class=HTMLResponse)
def money_page(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    month: Month = None,
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """The child's balance, daily limit and low-balance notice, and the month's statement (or it as a file)."""
    return _money_page(request, family, child_id, month, MoneyForms(), format=format)


def _amount(_: Translator, text: str, most: int, errors: FormErrors, field: str, empty: str, zero: str) -> int | None:
    """The amount typed in ``field``, or None with its error added (``empty`` and ``zero`` say what to do instead)."""
    if not text.strip():
        errors.add(field, empty)
        return None
    tiyn = typed_tenge(text, limit=None)
    if tiyn is None:
        errors.add(field, _("Type the sum in tenge, for example 1 000 or 1000,50."))
    elif tiyn == 0:
        errors.add(field, zero)
    elif tiyn > most:
        errors.add(field, _("That is more than {sum}: check the sum.", sum=_.money(most)))
    else:
        return tiyn
    return None


@router.post("/children/{child_id}/money/limit", dependencies=_checked)
def limit_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    limit: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[Literal["save", "remove"], Form()] = "save",
) -> Response:
    """Set or change the daily limit (the gateway refuses a meal over it, offline too), or remove it."""
    _ = family._
    errors = FormErrors()
    tiyn = None
    if action == "save":
        tiyn = _amount(
            _,
            limit,
            MAX_LIMIT_TIYN,
            errors,
            "limit",
            empty=_("Type the daily limit in tenge, for example 1 500, or remove the limit."),
            zero=_("A limit of 0 ₸ would refuse every paid meal: type a sum above zero, or remove the limit."),
        )
    if errors:
        return _money_page(request, family, child_id, None, MoneyForms(limit=limit, errors=errors), status=422)
    try:
        with _engine(request).begin() as conn:
            set_daily_limit(conn, family.school_id, child_id, family.guardian_id, tiyn, actor=family.principal.actor)
    except DomainError:
        raise DomainError("not_found") from None
    return RedirectResponse(f"/app/children/{child_id}/money?saved=limit", status_code=303)


@router.post("/children/{child_id}/money/notice", dependencies=_checked)
def notice_form(
    request: Request,
    child_id: UUID,
    family: FamilyDep,
    threshold: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[Literal["save", "off"], Form()] = "save",
) -> Response:
    """Set the balance below which the family is told (at most once in two days), or turn the notice off."""
    _ = family._
    errors = FormErrors()
    tiyn = None
    if action == "save":
        tiyn = _amount(
            _,
            threshold,
            MAX_THRESHOLD_TIYN,
            errors,
            "threshold",
            empty=_("Type the sum in tenge, for example 1 000, or turn the notice off."),
            zero=_("Type a sum above zero, or turn the notice off."),
        )
    if errors:
        forms = MoneyForms(threshold=threshold, errors=errors)
        return _money_page(request, family, child_id, None, forms, status=422)
    try:
        with _engine(request).begin() as conn:
            set_threshold(
                conn,
                family.school_id,
                child_id,
                family.guardian_id,
                tiyn,
                actor=family.principal.actor,
                now=datetime.now(UTC),
            )
    except DomainError:
        raise DomainError("not_found") from None
    return RedirectResponse(f"/app/children/{child_id}/money?saved=notice", status_code=303)
