"""Money in the office (§33-1.1: paid meals and their payment): balances, low balances, statements, top-ups.

    GET  /office/schools/{school}/money                           balances by class; the pupils of one class
    GET  /office/schools/{school}/money/low                       pupils below a threshold, with their guardians
    GET  /office/schools/{school}/money/children/{id}             a pupil's statement (?from=&to=; ?format=pdf|xlsx)
    GET  /office/schools/{school}/money/children/{id}/top-up      record money received: the form
    POST /office/schools/{school}/money/children/{id}/top-up/check    check before you record
    POST /office/schools/{school}/money/children/{id}/top-up          record it
    GET  /office/schools/{school}/money/children/{id}/correction  correct the balance, with a reason (same steps)

Lists take ``?format=csv|xlsx``. A top-up needs its receipt's number, recorded once in a school: a
double click, a form sent again or a second secretary with the same receipt never credits twice.
Every credit goes into the ledger and the audit journal in one transaction
(:func:`cloud_api.services.prepaid.record_credit`) and reaches the gateway at its next roster pull.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import IntegrityError

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.core.security_events import record_personal_export
from cloud_api.services.people import find_person
from cloud_api.services.prepaid import (
    MAX_CREDIT_TIYN,
    EntryKind,
    accounts_of,
    credit_recorded,
    receipt_recorded,
    record_credit,
)
from cloud_api.services.schools import school_name
from cloud_api.services.statements import (
    BalanceQuery,
    child_balances,
    class_totals,
    guardians_of,
    normal_receipt,
    statement_between,
    tenge,
)
from cloud_api.web.office.amounts import typed_tenge
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back, listing, typed_date
from cloud_api.web.office.downloads import personal_table_file
from cloud_api.web.office.statement_files import Heading, describe, kind_words, method_words, statement_file
from shared.localtime import LOCAL_TZ, local_date

__all__ = ["DEFAULT_THRESHOLD_TIYN", "router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
DEFAULT_THRESHOLD_TIYN = 1_000_00  # about two paid lunches: time to call the family
MAX_PERIOD_DAYS = 400  # a school year and a bit, on one statement
METHODS = ("cash", "bank_transfer")
# The days the money pages take: a date outside them is a typing slip (0001, 9999), and would
# overflow the date arithmetic of a statement's months.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
Kind = Literal["top-up", "correction"]


def _today() -> date:
    return local_date(datetime.now(UTC))


def _pupil(desk: Desk, child_id: UUID) -> dict[str, Any]:
    """The school's pupil (another school's child, or a guardian, is not found here)."""
    with desk.engine.connect() as conn:
        person = find_person(conn, desk.school_id, child_id)
    if person is None or person["role"] != "student":
        raise DomainError("unknown_person")
    return person


def _name(person: dict[str, Any]) -> str:
    return " ".join(p for p in (person["last_name"], person["first_name"], person.get("middle_name")) if p)


def _day(text: str) -> date | Literal["before", "after"] | None:
    """A typed date from FIRST_DAY to LAST_DAY; "before" or "after" when a date outside them; None if not a date."""
    day = typed_date(text)
    if day is None:  # not a date, or one that typed_date itself refuses as too far
        far = re.fullmatch(r"(\d{4})-\d\d-\d\d|\d\d\.\d\d\.(\d{4})", text.strip())
        year = int(far.group(1) or far.group(2)) if far else None
        if year is None or FIRST_DAY.year <= year <= LAST_DAY.year:
            return None
        return "before" if year < FIRST_DAY.year else "after"
    if day < FIRST_DAY:
        return "before"
    return "after" if day > LAST_DAY else day


def _far(desk: Desk) -> str:
    return desk._("Choose a date from {first} to {last}.", first=desk._.date(FIRST_DAY), last=desk._.date(LAST_DAY))


def _threshold(desk: Desk, text: str, errors: FormErrors) -> int:
    if not text.strip():
        return DEFAULT_THRESHOLD_TIYN
    tiyn = typed_tenge(text, limit=None)
    if tiyn is None or tiyn > MAX_CREDIT_TIYN:
        errors.add("below", desk._("Type the sum in tenge, for example 1 000 or 1000,50."))
        return DEFAULT_THRESHOLD_TIYN
    return tiyn


# -- balances --------------------------------------------------------------------------------------


@router.get("/office/schools/{school_id}/money", response_class=HTMLResponse)
def balances_page(
    desk: AdminDesk,
    class_name: Annotated[str, Query(alias="class", max_length=8)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    below: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """Each class with its pupils' total balance; the pupils' balances, sorted and filtered."""
    errors = FormErrors()
    threshold = _threshold(desk, below, errors)
    place = listing(desk.request, {"class": class_name, "q": q, "below": below}, ("class", "name", "balance"))
    query = BalanceQuery(
        class_name=class_name or None,
        q=q.strip() or None,
        sort=place.sort,  # type: ignore[arg-type]
        descending=place.descending,
        limit=100_000 if format else place.per_page,
        offset=0 if format else place.offset,
    )
    with desk.engine.connect() as conn:
        rows, total = child_balances(conn, desk.school_id, query)
        if not rows and total and not format:
            place = place.counted(total).last_page()
            rows, total = child_balances(conn, desk.school_id, replace(query, offset=place.offset))
        classes = class_totals(conn, desk.school_id, threshold)
    _ = desk._
    if format:
        headings = [_("Surname"), _("Name"), _("Patronymic"), _("Class"), _("Balance, ₸")]
        cells = (
            [r["last_name"], r["first_name"], r["middle_name"], r["class_name"], tenge(r["balance_tiyn"])] for r in rows
        )
        return personal_table_file(desk, format, f"balances-{desk.school_id}", headings, cells)
    chosen = next((c for c in classes if class_name and (c.class_name or "").lower() == class_name.lower()), None)
    return desk.page(
        "office/money.html",
        title=_("Money"),
        status=422 if errors else 200,
        rows=rows,
        listing=place.counted(total),
        classes=classes,
        chosen=chosen,
        threshold=threshold,
        school_total=sum(c.total_tiyn for c in classes),
        errors=errors,
    )


@router.get("/office/schools/{school_id}/money/low", response_class=HTMLResponse)
def low_page(
    desk: AdminDesk,
    below: Annotated[str, Query(max_length=32)] = "",
    class_name: Annotated[str, Query(alias="class", max_length=8)] = "",
    who: Annotated[Literal["paying", "all"], Query()] = "paying",
    format: Annotated[Literal["", "csv", "xlsx"], Query()] = "",
) -> Response:
    """Pupils whose balance is below the threshold, with whom to call: their guardians' phones and e-mails."""
    errors = FormErrors()
    threshold = _threshold(desk, below, errors)
    shown_below = below if not errors else ""
    place = listing(desk.request, {"below": shown_below, "class": class_name, "who": who}, ("balance", "class", "name"))
    query = BalanceQuery(
        class_name=class_name or None,
        below_tiyn=threshold,
        with_ledger_only=who == "paying",
        sort=place.sort,  # type: ignore[arg-type]
        descending=place.descending,
        limit=100_000 if format else place.per_page,
        offset=0 if format else place.offset,
    )
    with desk.engine.connect() as conn:
        rows, total = child_balances(conn, desk.school_id, query)
        if not rows and total and not format:
            place = place.counted(total).last_page()
            rows, total = child_balances(conn, desk.school_id, replace(query, offset=place.offset))
        guardians = guardians_of(conn, desk.school_id, [r["id"] for r in rows])
    _ = desk._
    for row in rows:
        row["guardians"] = guardians.get(row["id"], [])
    if format:
        headings = [_("Surname"), _("Name"), _("Class"), _("Balance, ₸"), _("Guardians"), _("Phone"), _("E-mail")]

        def joined(row: dict[str, Any], key: str) -> str:
            return "; ".join(g[key] for g in row["guardians"] if g[key])

        cells = (
            [
                r["last_name"],
                r["first_name"],
                r["class_name"],
                tenge(r["balance_tiyn"]),
                "; ".join(f"{g['last_name']} {g['first_name']}" for g in r["guardians"]),
                joined(r, "phone"),
                joined(r, "email"),
            ]
            for r in rows
        )
        return personal_table_file(desk, format, f"low-balances-{desk.school_id}", headings, cells)
    return desk.page(
        "office/money_low.html",
        title=_("Low balances"),
        status=422 if errors else 200,
        rows=rows,
        listing=place.counted(total),
        threshold=threshold,
        below=below,
        who=who,
        class_name=class_name,
        errors=errors,
    )


# -- a pupil's statement ---------------------------------------------------------------------------


def _period(desk: Desk, first_text: str, last_text: str, errors: FormErrors) -> tuple[date, date]:
    today = _today()
    month_first = today.replace(day=1)
    month_last = (month_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first = _day(first_text) if first_text.strip() else month_first
    last = _day(last_text) if last_text.strip() else (month_last if not first_text.strip() else None)
    if isinstance(first, str):
        errors.add("from", _far(desk))
        first = None
    elif first is None:
        errors.add("from", desk._("Type a date, for example 01.12.2026."))
    if isinstance(last, str):
        errors.add("to", _far(desk))
        last = None
    elif last is None and last_text.strip():
        errors.add("to", desk._("Type a date, for example 31.12.2026."))
    if errors or not isinstance(first, date):
        return month_first, month_last
    if not isinstance(last, date):  # a month from its first day, as a statement usually is
        last = (first.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if last < first:
        errors.add("to", desk._("The end of the period is before its start."))
        return month_first, month_last
    if (last - first).days > MAX_PERIOD_DAYS:
        errors.add(
            "to",
            desk._.plural(
                "A statement covers at most {n} day.", "A statement covers at most {n} days.", MAX_PERIOD_DAYS
            ),
        )
        return month_first, month_last
    return first, last


def _school_name(desk: Desk) -> str:
    with desk.engine.connect() as conn:
        return school_name(conn, desk.school_id)


@router.get("/office/schools/{school_id}/money/children/{child_id}", response_class=HTMLResponse)
def statement_page(
    desk: AdminDesk,
    child_id: UUID,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="to", max_length=32)] = "",
    format: Annotated[Literal["", "pdf", "xlsx"], Query()] = "",
) -> Response:
    """The pupil's credits, meals and corrections of a period (this month unless chosen), with the running balance."""
    person = _pupil(desk, child_id)
    errors = FormErrors()
    start, end = _period(desk, first, last, errors)
    with desk.engine.connect() as conn:
        statement = statement_between(conn, desk.school_id, child_id, start, end)
        now = accounts_of(conn, desk.school_id, [child_id]).get(child_id)
    _ = desk._
    if format and not errors:
        heading = Heading(_school_name(desk), _name(person), person["class_name"], datetime.now(LOCAL_TZ))
        stem = f"statement-{person['last_name']}-{start.isoformat()}-{end.isoformat()}"
        # The security stream names the pupil by id: a name in a SIEM is one more copy of personal data.
        record_personal_export(desk.actor, desk.school_id, f"statement-{child_id}", format)
        return statement_file(statement, heading, format, stem, _)
    previous_first = (start.replace(day=1) - timedelta(days=1)).replace(day=1)
    following_first = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    return desk.page(
        "office/money_statement.html",
        title=_("Statement: {name}", name=_name(person)),
        status=422 if errors else 200,
        person=person,
        statement=statement,
        lines=[(line, describe(line, _)) for line in statement.lines],
        kinds=kind_words(_),
        balance_now=now.balance_tiyn if now else 0,
        first=first if errors else start.isoformat(),
        last=last if errors else end.isoformat(),
        period_query=f"from={start.isoformat()}&to={end.isoformat()}",
        previous_first=previous_first,
        following_first=following_first if following_first <= _today() else None,
        errors=errors,
    )


# -- top-ups and corrections -----------------------------------------------------------------------


def _credit_form(
    desk: Desk,
    kind: Kind,
    person: dict[str, Any],
    form: dict[str, str],
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    _ = desk._
    title = _("Record a top-up") if kind == "top-up" else _("Correct the balance")
    with desk.engine.connect() as conn:
        now = accounts_of(conn, desk.school_id, [person["id"]]).get(person["id"])
    return desk.page(
        "office/money_credit.html",
        title=title,
        status=status,
        kind=kind,
        person=person,
        pupil_name=_name(person),
        form=form,
        errors=errors or FormErrors(),
        methods=[(m, w) for m, w in method_words(_).items()],
        balance_now=now.balance_tiyn if now else 0,
        today=_today().isoformat(),
    )


@router.get("/office/schools/{school_id}/money/children/{child_id}/{kind}", response_class=HTMLResponse)
def credit_page(
    desk: AdminDesk,
    child_id: UUID,
    kind: Kind,
    method: Annotated[str, Query(max_length=16)] = "cash",
    receipt: Annotated[str, Query(max_length=100)] = "",
    amount: Annotated[str, Query(max_length=32)] = "",
    paid_on: Annotated[str, Query(max_length=32)] = "",
    reason: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    """The form of a top-up (how paid, receipt, sum, date) or of a correction (sum, reason); kept when changed."""
    form = {"method": method, "receipt": receipt, "amount": amount, "paid_on": paid_on, "reason": reason}
    return _credit_form(desk, kind, _pupil(desk, child_id), form)


class _Credit:
    """A credit form read and checked: the values to record, or the errors to show beside the fields."""

    def __init__(self, desk: Desk, kind: Kind, form: dict[str, str]) -> None:
        _ = desk._
        self.errors = FormErrors()
        self.amount_tiyn = typed_tenge(form["amount"], limit=None, signed=kind == "correction")
        if kind == "top-up":
            self.method = form["method"] if form["method"] in METHODS else None
            self.receipt = normal_receipt(form["receipt"])
            paid_on = _day(form["paid_on"]) if form["paid_on"].strip() else _today()
            self.paid_on = paid_on if isinstance(paid_on, date) else None
            if self.method is None:
                self.errors.add("method", _("Choose how the money was paid."))
            if not self.receipt:
                self.errors.add(
                    "receipt", _("Type the number of the receipt (of the cash order or the bank transfer).")
                )
            elif len(self.receipt) > 64:
                self.errors.add("receipt", _("A receipt number is at most 64 characters."))
        if self.amount_tiyn is None:
            example = _("for example 5 000 or 5000,50") if kind == "top-up" else _("for example 500 or -500")
            self.errors.add("amount", _("Type the sum in tenge, {example}.", example=example))
        elif kind == "top-up" and self.amount_tiyn <= 0:
            self.errors.add("amount", _("A top-up is more than zero: to take money back, correct the balance."))
        elif self.amount_tiyn == 0:
            self.errors.add("amount", _("A correction of zero changes nothing: type the sum to add or take away."))
        elif abs(self.amount_tiyn) > MAX_CREDIT_TIYN:
            self.errors.add("amount", _("That is more than {sum}: check the sum.", sum=_.money(MAX_CREDIT_TIYN)))
        if kind == "top-up":
            if paid_on == "before":
                self.errors.add("paid_on", _far(desk))
            elif paid_on == "after":
                self.errors.add("paid_on", _("The payment date cannot be in the future."))
            elif self.paid_on is None:
                self.errors.add("paid_on", _("Type the date of the payment, for example 05.12.2026."))
            elif self.paid_on > _today():
                self.errors.add("paid_on", _("The payment date cannot be in the future."))
            self.reason = ""
        else:
            self.method, self.receipt, self.paid_on = None, "", None
            self.reason = " ".join(form["reason"].split())
            if not self.reason:
                self.errors.add("reason", _("Say why the balance is corrected (it goes into the audit journal)."))
            elif len(self.reason) > 200:
                self.errors.add("reason", _("A reason is at most 200 characters."))

    def refuse_a_known_receipt(self, desk: Desk) -> None:
        """The receipt's field error when the school has recorded its number already (whose, when, how much)."""
        if not self.receipt or "receipt" in self.errors.by_field:
            return
        with desk.engine.connect() as conn:
            known = receipt_recorded(conn, desk.school_id, self.receipt)
            holder = find_person(conn, desk.school_id, known["person_id"]) if known else None
        if known is not None:
            self.errors.add("receipt", _already(desk, self.receipt, known, holder))


def _already(desk: Desk, receipt: str, known: dict[str, Any], holder: dict[str, Any] | None) -> str:
    _ = desk._
    values = {
        "receipt": receipt,
        "sum": _.money(known["amount_tiyn"]),
        "date": _.date(known["at"].astimezone(LOCAL_TZ)),
    }
    if holder is None:  # the pupil it was recorded for is no longer among the school's people
        return _(
            "Receipt No. {receipt} is already recorded: {sum} on {date}, for a person no longer on the list. A receipt is recorded once.",  # noqa: E501 (a catalog message is one literal)
            **values,
        )
    return _(
        "Receipt No. {receipt} is already recorded: {sum} for {name} on {date}. A receipt is recorded once.",
        name=_name(holder),
        **values,
    )


def _refuse_a_departed_pupil(desk: Desk, person: dict[str, Any], errors: FormErrors) -> None:
    # The ledger takes credits for pupils at school only (the gateway no longer serves the others).
    if not person["active"]:
        errors.add("amount", desk._("This pupil has left the school: the balance can no longer be changed here."))


@dataclass
class CreditFields:
    """The fields of a top-up's or a correction's form, as posted (to be checked, then recorded)."""

    method: Annotated[str, Form(max_length=16)] = ""
    receipt: Annotated[str, Form(max_length=100)] = ""
    amount: Annotated[str, Form(max_length=32)] = ""
    paid_on: Annotated[str, Form(max_length=32)] = ""
    reason: Annotated[str, Form(max_length=300)] = ""

    def form(self) -> dict[str, str]:
        """The fields by name, as the form shows them again."""
        return asdict(self)


@router.post("/office/schools/{school_id}/money/children/{child_id}/{kind}/check", dependencies=_checked)
def credit_check(
    desk: AdminDesk,
    child_id: UUID,
    kind: Kind,
    fields: Annotated[CreditFields, Depends()],
) -> HTMLResponse:
    """Check before you record: who, how much, how paid, and the balance before and after."""
    person = _pupil(desk, child_id)
    form = fields.form()
    credit = _Credit(desk, kind, form)
    credit.refuse_a_known_receipt(desk)
    _refuse_a_departed_pupil(desk, person, credit.errors)
    if credit.errors:
        return _credit_form(desk, kind, person, form, credit.errors, status=422)
    assert credit.amount_tiyn is not None
    with desk.engine.connect() as conn:
        now = accounts_of(conn, desk.school_id, [child_id]).get(child_id)
    before = now.balance_tiyn if now else 0
    _ = desk._
    return desk.page(
        "office/money_check.html",
        title=_("Check before you record"),
        kind=kind,
        person=person,
        pupil_name=_name(person),
        credit=credit,
        method_word=method_words(_).get(credit.method or "", ""),
        before=before,
        after=before + credit.amount_tiyn,
        change_url=f"{desk.base}/money/children/{child_id}/{kind}?" + urlencode({k: v for k, v in form.items() if v}),
        form={
            "method": credit.method or "",
            "receipt": credit.receipt,
            "amount": fields.amount,
            "paid_on": credit.paid_on.isoformat() if credit.paid_on else "",
            "reason": credit.reason,
            # A correction has no receipt to be recorded once: the checked form carries its own
            # key instead, so that recording it twice (a double click, the form sent again) credits once.
            **({"key": str(uuid4())} if kind == "correction" else {}),
        },
    )


@router.post("/office/schools/{school_id}/money/children/{child_id}/{kind}", dependencies=_checked)
def credit_record(
    desk: AdminDesk,
    child_id: UUID,
    kind: Kind,
    fields: Annotated[CreditFields, Depends()],
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record the checked top-up or correction in the ledger and the audit journal; on to the statement."""
    person = _pupil(desk, child_id)
    form = fields.form()
    credit = _Credit(desk, kind, form)
    _refuse_a_departed_pupil(desk, person, credit.errors)
    credit_key = _key(key) if kind == "correction" else None
    if kind == "correction" and credit_key is None:
        # Not from the check page (which gives each correction its key): check it first.
        return credit_check(desk, child_id, kind, fields)
    done = f"{desk.base}/money/children/{child_id}?done=" + (
        "top_up_recorded" if kind == "top-up" else "correction_recorded"
    )
    if not credit.errors:
        assert credit.amount_tiyn is not None
        try:
            with desk.engine.begin() as conn:
                record_credit(
                    conn,
                    desk.school_id,
                    child_id,
                    credit.amount_tiyn,
                    EntryKind.TOP_UP if kind == "top-up" else EntryKind.CORRECTION,
                    actor=desk.actor,
                    note=credit.reason or None,
                    method=credit.method,
                    receipt=credit.receipt or None,
                    paid_on=credit.paid_on,
                    key=credit_key,
                )
        except DomainError as refused:
            if refused.code != "receipt_already_recorded":
                raise
            credit.refuse_a_known_receipt(desk)
        except IntegrityError:
            # Two clicks at once: the second's insert meets a unique index. Only the index the
            # credit's own receipt or key is in says "recorded already"; any other refusal is a fault.
            with desk.engine.connect() as conn:
                if credit_key is not None and credit_recorded(conn, desk.school_id, credit_key):
                    return back(done)
                if not (credit.receipt and receipt_recorded(conn, desk.school_id, credit.receipt)):
                    raise
            credit.refuse_a_known_receipt(desk)
        else:
            return back(done)
    return _credit_form(desk, kind, person, form, credit.errors, status=422)


def _key(text: str) -> UUID | None:
    """A checked correction's key as its form sends it back; None when missing or not one."""
    try:
        return UUID(text.strip())
    except ValueError:
        return None
