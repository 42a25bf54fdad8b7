"""Money in the school office, as a secretary uses it over HTTP (in a browser: tests/test_office_money_browser.py).

The administrator of s1 records top-ups (with a receipt, once) and corrections (with a reason),
reads the balances by class, the pupils to call, and a pupil's statement on the page, as a PDF and
as a workbook; every refused form says why beside its field, and nothing is credited for it.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import event as db_event
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud_api.db.schema import audit_log, balance_entries, people
from cloud_api.services import prepaid
from cloud_api.services.statements import BalanceQuery, child_balances, class_totals, normal_receipt
from cloud_api.web.office import money
from cloud_api.web.office.amounts import typed_tenge
from shared.contract import INGEST_PATH
from shared.i18n import catalog_messages, catalog_plurals
from shared.localtime import LOCAL_TZ
from tests.cloud_api.helpers import batch_body, event, signed
from tests.cloud_api.school import CHILD, OTHER_CHILD, S2_CHILD, TEEN, iin
from tests.cloud_api.test_office import Office, _signed_in_as, office, rows_of, settings, text_of

# The flows that run on Citus too (tests/cloud_api/conftest.py); the rest on SQLite and PostgreSQL.
ON_CITUS = (
    "test_a_top_up_is_checked_then_recorded_once_in_the_ledger_and_the_journal",
    "test_two_clicks_at_once_meet_the_receipts_unique_index",
    "test_two_clicks_at_once_on_a_correction_credit_once",
    "test_balances_by_class_with_each_class_total_sorted_and_filtered",
    "test_the_statement_runs_the_balance_as_the_ledger_does_and_downloads",
)


__all__ = ["office", "settings"]  # the fixtures, shared with the office's other tests


def _today() -> date:
    return datetime.now(LOCAL_TZ).date()


def top_up(office: Office, child: UUID, **form: str) -> Any:
    """The two steps of a top-up (check, then record) with ``form``'s fields; the recording's answer."""
    values = {"method": "cash", "receipt": "КО-1", "amount": "5 000", "paid_on": _today().isoformat(), **form}
    checked = office.post(f"/money/children/{child}/top-up/check", values)
    if checked.status_code != 200:
        return checked
    return office.post(f"/money/children/{child}/top-up", hidden_fields(checked.text))


def correct(office: Office, child: UUID, amount: str, reason: str) -> Any:
    """The two steps of a correction (check, then record the checked form); the recording's answer."""
    checked = office.post(f"/money/children/{child}/correction/check", {"amount": amount, "reason": reason})
    assert checked.status_code == 200, checked.text
    return office.post(f"/money/children/{child}/correction", hidden_fields(checked.text))


def hidden_fields(page: str) -> dict[str, str]:
    """The values a check page sends on when its button is pressed."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))


def serve_meals(office: Office, child: UUID, meals: list[tuple[str, str, list[str], int]], seq: int = 1) -> None:
    """Paid meals of ``child`` (local time, period, dishes, price in tiyn) as gateway gw1 sends them."""
    events = [
        event(
            seq + n,
            at=at,
            kind="meal",
            person_id=str(child),
            reason="ok",
            meal={"period": period, "category": "paid", "dishes": dishes, "price_tiyn": price},
        )
        for n, (at, period, dishes, price) in enumerate(meals)
    ]
    body = batch_body(events)
    answer = office.client.post(INGEST_PATH, content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text


def ledger(office: Office, child: UUID) -> list[Any]:
    with office.app.state.engine.connect() as conn:
        c = balance_entries.c
        return conn.execute(select(c.kind, c.amount_tiyn, c.receipt).where(c.person_id == child).order_by(c.id)).all()


# -- reading what people type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "tiyn"),
    [("5000", 500000), ("5 000", 500000), ("5000,50", 500050), ("5\u00a0000.5 ₸", 500050), ("1 250 тг", 125000)],
)
def test_a_sum_is_read_as_people_type_it(typed: str, tiyn: int) -> None:
    assert typed_tenge(typed, limit=None) == tiyn


def test_what_is_not_a_sum_is_not_read() -> None:
    assert typed_tenge("-500") is None and typed_tenge("-500", limit=None, signed=True) == -50000
    assert typed_tenge("−1 000", limit=None, signed=True) == -100000  # the typographic minus
    for text in ("", "пять тысяч", "5,000.00", "1.234", "5e3"):
        assert typed_tenge(text, limit=None) is None, text
    assert normal_receipt(" № ко-15 ") == normal_receipt("КО-15") == "КО-15"


# -- top-ups ---------------------------------------------------------------------------------------


def test_a_top_up_is_checked_then_recorded_once_in_the_ledger_and_the_journal(office: Office) -> None:
    child = office.id(CHILD)
    checked = office.post(
        f"/money/children/{child}/top-up/check",
        {"method": "bank_transfer", "receipt": "п/п 77", "amount": "5 000,50", "paid_on": _today().isoformat()},
    )
    page = text_of(checked.text)
    assert checked.status_code == 200 and "Проверьте перед записью" in page
    assert "Нұрланова Әлия" in page and "банковский перевод" in page and "П/П 77" in page
    assert "+5 000,50 ₸" in page and "0 ₸ → 5 000,50 ₸" in page
    assert ledger(office, child) == []  # nothing recorded by the check
    recorded = top_up(office, child, method="bank_transfer", receipt="п/п 77", amount="5 000,50")
    assert recorded.status_code == 200 and "Пополнение записано." in recorded.text
    assert "5 000,50 ₸" in text_of(recorded.text)
    assert ledger(office, child) == [("top_up", 500050, "П/П 77")]
    [entry] = rows_of(office.app, audit_log, entity="balance_entry")
    assert entry.after["receipt"] == "П/П 77" and entry.after["method"] == "bank_transfer"
    assert entry.actor.startswith("account:")


def test_the_same_receipt_twice_is_refused_and_credits_once(office: Office) -> None:
    child, other = office.id(CHILD), office.id(OTHER_CHILD)
    assert top_up(office, child, receipt="123").status_code == 200
    values = {"method": "cash", "receipt": "123", "amount": "5000", "paid_on": _today().isoformat()}
    for path in (f"/money/children/{child}/top-up", f"/money/children/{child}/top-up/check"):
        again = office.post(path, values)  # a double click on "Record", or the form sent again
        assert again.status_code == 422
        page = text_of(again.text)
        assert "Квитанция № 123 уже записана: 5 000 ₸ для Нұрланова Әлия" in page
        assert 'id="receipt-error"' in again.text and 'aria-invalid="true"' in again.text
    elsewhere = top_up(office, other, receipt=" №123 ")  # the same paper for another child
    assert elsewhere.status_code == 422 and "уже записана" in elsewhere.text
    assert ledger(office, child) == [("top_up", 500000, "123")] and ledger(office, other) == []


def test_a_receipt_of_someone_no_longer_listed_says_so_in_words(office: Office) -> None:
    child, other = office.id(CHILD), office.id(OTHER_CHILD)
    assert top_up(office, child, receipt="808").status_code == 200
    with office.app.state.engine.begin() as conn:  # recorded for a person the school no longer has
        conn.execute(balance_entries.update().where(balance_entries.c.person_id == child).values(person_id=UUID(int=9)))
    again = top_up(office, other, receipt="808")
    page = text_of(again.text)
    assert again.status_code == 422 and "?" not in page.split("Квитанция № 808", 1)[1].split(".", 1)[0]
    assert "Квитанция № 808 уже записана: 5 000 ₸" in page and "которого больше нет в списке" in page


def test_two_clicks_at_once_meet_the_receipts_unique_index(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    # The second of two simultaneous posts passes the service's check before the first commits:
    # the database's index refuses it, and the form says so instead of answering 500.
    child = office.id(CHILD)
    assert top_up(office, child, receipt="555").status_code == 200
    monkeypatch.setattr(prepaid, "receipt_recorded", lambda *args: None)
    values = {"method": "cash", "receipt": "555", "amount": "5000", "paid_on": _today().isoformat()}
    raced = office.post(f"/money/children/{child}/top-up", values)
    assert raced.status_code == 422 and "Квитанция № 555 уже записана" in text_of(raced.text)
    assert ledger(office, child) == [("top_up", 500000, "555")]


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"amount": "-500"}, "amount", "Введите сумму в тенге"),
        ({"amount": "0"}, "amount", "больше нуля"),
        ({"amount": "пять тысяч"}, "amount", "Введите сумму в тенге"),
        ({"amount": "20 000 000"}, "amount", "проверьте сумму"),
        ({"receipt": "   "}, "receipt", "Введите номер квитанции"),
        ({"method": "bitcoin"}, "method", "Выберите способ оплаты"),
        ({"paid_on": "31.02.2026"}, "paid_on", "Введите дату оплаты"),
        ({"paid_on": "2999-01-01"}, "paid_on", "не может быть в будущем"),
        ({"paid_on": "31.12.9999"}, "paid_on", "не может быть в будущем"),
        ({"paid_on": "0001-01-01"}, "paid_on", "Выберите дату с 01.01.2000 по 31.12.2100."),
    ],
)
def test_a_bad_top_up_says_why_beside_the_field_and_records_nothing(
    office: Office, form: dict[str, str], field: str, words: str
) -> None:
    child = office.id(CHILD)
    refused = top_up(office, child, **form)
    assert refused.status_code == 422
    assert f'id="{field}-error"' in refused.text and words in text_of(refused.text)
    assert "error-summary" in refused.text
    assert ledger(office, child) == []


def test_another_schools_child_a_guardian_and_a_non_admin_are_refused(office: Office) -> None:
    values = {"method": "cash", "receipt": "9", "amount": "100", "paid_on": _today().isoformat()}
    theirs = office.world.ids[S2_CHILD]
    for path in (f"/money/children/{theirs}", f"/money/children/{theirs}/top-up", f"/money/children/{theirs}/top-up"):
        assert office.get(path).status_code == 404
    assert office.post(f"/money/children/{theirs}/top-up", values).status_code == 404
    mother = office.world.ids[iin("88042140056")]
    assert office.get(f"/money/children/{mother}").status_code == 404
    assert office.get(f"/money/children/{UUID(int=7)}").status_code == 404
    _signed_in_as(office.world, "cook@s1.kz")
    for path in ("/money", "/money/low", f"/money/children/{office.id(CHILD)}"):
        assert office.get(path).status_code == 403
    assert office.post(f"/money/children/{office.id(CHILD)}/top-up", values).status_code == 403
    assert rows_of(office.app, balance_entries) == []


def test_a_pupil_who_left_is_not_credited(office: Office) -> None:
    child = office.id(CHILD)
    with office.app.state.engine.begin() as conn:
        conn.execute(people.update().where(people.c.id == child).values(active=False))
    refused = top_up(office, child)
    assert refused.status_code == 422 and "Этот ученик выбыл" in text_of(refused.text)
    assert ledger(office, child) == []


def test_a_form_from_another_site_is_refused(office: Office) -> None:
    values = {"method": "cash", "receipt": "9", "amount": "100", "paid_on": _today().isoformat()}
    answer = office.client.post(
        f"/office/schools/s1/money/children/{office.id(CHILD)}/top-up",
        data=values,
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403 and rows_of(office.app, balance_entries) == []


# -- corrections -----------------------------------------------------------------------------------


def test_a_correction_needs_a_reason_and_may_take_money_away(office: Office) -> None:
    child = office.id(TEEN)
    top_up(office, child, receipt="1", amount="3000")
    no_reason = office.post(f"/money/children/{child}/correction/check", {"amount": "-500", "reason": "  "})
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    zero = office.post(f"/money/children/{child}/correction/check", {"amount": "0", "reason": "x"})
    assert zero.status_code == 422 and 'id="amount-error"' in zero.text
    checked = office.post(f"/money/children/{child}/correction/check", {"amount": "-500", "reason": "двойное списание"})
    assert checked.status_code == 200 and "3 000 ₸ → 2 500 ₸" in text_of(checked.text)
    done = office.post(f"/money/children/{child}/correction", hidden_fields(checked.text))
    assert done.status_code == 200 and "Корректировка записана." in done.text
    page = text_of(done.text)
    assert "двойное списание" in page and "-500 ₸" in page.replace("\u00a0", " ")
    assert ledger(office, child)[-1] == ("correction", -50000, None)
    journal = rows_of(office.app, audit_log, entity="balance_entry")
    assert journal[-1].after == {"kind": "correction", "amount_tiyn": -50000, "note": "двойное списание"}


def test_a_correction_sent_twice_is_recorded_once(office: Office) -> None:
    # A double click on "Record the correction", or the confirmed form sent again (reload, back):
    # each answer is the statement saying it is recorded, and the ledger holds it once.
    child = office.id(TEEN)
    checked = office.post(f"/money/children/{child}/correction/check", {"amount": "700", "reason": "сдача"})
    confirmed = hidden_fields(checked.text)
    assert UUID(confirmed["key"])
    for _ in range(2):
        again = office.post(f"/money/children/{child}/correction", confirmed)
        assert again.status_code == 200 and "Корректировка записана." in again.text
    assert ledger(office, child) == [("correction", 70000, None)]
    assert len(rows_of(office.app, audit_log, entity="balance_entry")) == 1
    checked_again = hidden_fields(  # checked again, it is a new correction of its own
        office.post(f"/money/children/{child}/correction/check", {"amount": "700", "reason": "сдача"}).text
    )
    assert checked_again["key"] != confirmed["key"]
    office.post(f"/money/children/{child}/correction", checked_again)
    assert ledger(office, child) == [("correction", 70000, None)] * 2


def test_two_clicks_at_once_on_a_correction_credit_once(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    # The second post passes the service's look-up before the first commits: the key's unique index
    # refuses it, and the secretary sees the correction recorded (once), not an error.
    child = office.id(TEEN)
    checked = office.post(f"/money/children/{child}/correction/check", {"amount": "-300", "reason": "ошибка"})
    confirmed = hidden_fields(checked.text)
    assert office.post(f"/money/children/{child}/correction", confirmed).status_code == 200
    monkeypatch.setattr(prepaid, "credit_recorded", lambda *args: False)
    raced = office.post(f"/money/children/{child}/correction", confirmed)
    assert raced.status_code == 200 and "Корректировка записана." in raced.text
    assert ledger(office, child) == [("correction", -30000, None)]


def test_a_correction_not_checked_first_is_shown_for_checking(office: Office) -> None:
    child = office.id(TEEN)
    unchecked = office.post(f"/money/children/{child}/correction", {"amount": "100", "reason": "x", "key": "nonsense"})
    assert unchecked.status_code == 200 and "Проверьте перед записью" in text_of(unchecked.text)
    assert ledger(office, child) == []


def test_a_database_refusal_that_is_not_the_receipt_is_not_called_a_known_receipt(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a receipt the school holds makes "already recorded"; another refusal of the database is a
    # fault to be seen (and logged), never a wrong message beside the receipt's field.
    def refused(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO balance_entries", {}, Exception("balance_entries_person_fkey"))

    monkeypatch.setattr(money, "record_credit", refused)
    child = office.id(CHILD)
    values = {"method": "cash", "receipt": "777", "amount": "5000", "paid_on": _today().isoformat()}
    with pytest.raises(IntegrityError):
        office.post(f"/money/children/{child}/top-up", values)
    assert ledger(office, child) == []


# -- balances and low balances ---------------------------------------------------------------------


def test_the_balances_sum_only_the_schools_own_ledger(office: Office) -> None:
    # Each school's balances are summed from its own ledger, not every school's (on Citus: one
    # shard, not a fan-out to all of them): the ledger's grouping names the school.
    engine = office.app.state.engine
    grouped: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "GROUP BY balance_entries.school_id" in statement:
            grouped.append(statement.split("FROM balance_entries", 1)[1].split("GROUP BY", 1)[0])

    db_event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as conn:
            class_totals(conn, "s1", 1000_00)
            child_balances(conn, "s1", BalanceQuery(below_tiyn=1000_00))
    finally:
        db_event.remove(engine, "before_cursor_execute", seen)
    assert len(grouped) == 3 and all("balance_entries.school_id =" in where for where in grouped), grouped


def test_balances_by_class_with_each_class_total_sorted_and_filtered(office: Office) -> None:
    with office.app.state.engine.connect() as conn:  # nobody pays from a balance yet: nobody to call
        assert [(c.class_name, c.total_tiyn, c.below) for c in class_totals(conn, "s1", 1000_00)] == [
            ("3Б", 0, 0),
            ("4А", 0, 0),
            ("9А", 0, 0),
        ]
    top_up(office, office.id(CHILD), receipt="1", amount="1500")
    top_up(office, office.id(TEEN), receipt="2", amount="700")
    top_up(office, office.id(OTHER_CHILD), receipt="3", amount="12 000")
    page = office.get("/money")
    assert page.status_code == 200
    classes = re.findall(
        r'<th scope="row"><a [^>]*>([^<]+)</a></th>\s*<td class="num">(\d+)</td><td class="num">([^<]+)<', page.text
    )
    assert [(c, n, s.replace("\u00a0", " ")) for c, n, s in classes] == [
        ("3Б", "1", "1 500 ₸"),
        ("4А", "1", "12 000 ₸"),
        ("9А", "1", "700 ₸"),
    ]
    assert "Все ученики вместе: 14 200 ₸" in text_of(page.text)
    with office.app.state.engine.connect() as conn:
        assert [(c.class_name, c.below) for c in class_totals(conn, "s1", 1000_00)] == [("3Б", 0), ("4А", 0), ("9А", 1)]
    by_balance = text_of(office.get("/money", sort="balance", desc="1").text)
    assert by_balance.index("Ахметов") < by_balance.index("Нұрланова") < by_balance.index("Иванов")
    one_class = text_of(office.get("/money", **{"class": "4а"}).text)
    assert "Класс 4А: 12 000 ₸" in one_class and "Иванов Пётр" not in one_class.split("Класс 4А")[1]
    sheet = office.get("/money", format="xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][-1] == "Баланс, ₸" and sorted(r[-1] for r in rows[1:]) == [700, 1500, 12000]


def test_the_low_balance_list_names_whom_to_call_and_downloads(office: Office) -> None:
    top_up(office, office.id(CHILD), receipt="1", amount="300")
    top_up(office, office.id(TEEN), receipt="2", amount="5000")
    top_up(office, office.id(OTHER_CHILD), receipt="3", amount="999,99")
    low = text_of(office.get("/money/low").text)  # below 1 000 ₸ unless said
    assert "Нұрланова Әлия" in low and "Ахметов Дана" in low and "Иванов Пётр" not in low
    assert "Нұрланова Гүлнар · +77012345678" in low and "Ахметов Ерлан · +77021112233" in low
    typed = text_of(office.get("/money/low", below="6 000").text)
    assert "Иванов Пётр" in typed and 'value="6 000"' in office.get("/money/low", below="6 000").text
    bad = office.get("/money/low", below="много")
    assert bad.status_code == 422 and 'id="below-error"' in bad.text
    book = office.get("/money/low", below="1000", format="xlsx")
    rows = list(load_workbook(io.BytesIO(book.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("Фамилия", "Имя", "Класс", "Баланс, ₸", "Родители и законные представители", "Телефон", "E-mail")
    by_name = {r[0] + " " + r[1]: r for r in rows[1:]}
    assert by_name["Нұрланова Әлия"][3] == 300 and by_name["Ахметов Дана"][3] == 999.99  # numbers, in tenge
    assert by_name["Ахметов Дана"][5] == "+77021112233" and by_name["Нұрланова Әлия"][4] == "Нұрланова Гүлнар"
    csv_text = office.get("/money/low", format="csv").content.decode("utf-8-sig")
    assert "Нұрланова,Әлия,3Б,300,Нұрланова Гүлнар,'+77012345678," in csv_text  # a phone as text, not a formula


# -- the statement ---------------------------------------------------------------------------------


def _this_month_at(day: int, hour: int) -> str:
    today = _today()
    return datetime(today.year, today.month, min(day, today.day), hour, 0, tzinfo=LOCAL_TZ).isoformat()


def test_the_statement_runs_the_balance_as_the_ledger_does_and_downloads(office: Office) -> None:
    child = office.id(TEEN)
    top_up(office, child, receipt="КО-41", amount="5000")
    serve_meals(
        office,
        child,
        [
            (_this_month_at(1, 9), "breakfast", ["Каша", "Чай"], 35000),
            (_this_month_at(1, 12), "lunch", ["Плов", "Компот"], 90000),
        ],
    )
    correct(office, child, "200", "сдача")
    person = office.get(f"/people/{child}").text  # the pupil's page leads to the statement
    assert f'href="/office/schools/s1/money/children/{child}"' in person
    page = office.get(f"/money/children/{child}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Плов, Компот" in text and "обед" in text and "Каша, Чай" in text
    assert "наличные, квитанция № КО-41" in text and "сдача" in text
    balances = [b.replace("\u00a0", " ") for b in re.findall(r'<td class="num">([^<]+)</td>\n</tr>', page.text)]
    with office.app.state.engine.connect() as conn:
        c = balance_entries.c
        amounts = conn.execute(select(c.amount_tiyn).where(c.person_id == child).order_by(c.id)).scalars().all()
    running = [sum(amounts[: n + 1]) for n in range(len(amounts))]
    assert balances == [f"{r // 100:,} ₸".replace(",", " ") for r in running]  # 5 000, 4 650, 3 750, 3 950
    assert "Баланс на конец периода 3 950 ₸" in text

    assert "<h1>Выписка: Иванов Пётр</h1>" in page.text  # one sentence of the catalog, not glued words
    pdf = office.get(f"/money/children/{child}", format="pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert PdfReader(io.BytesIO(pdf.content)).metadata.title == "Выписка: Иванов Пётр"
    named = pdf.headers["content-disposition"]
    assert named.startswith('attachment; filename="statement-______-') and "filename*=UTF-8''statement-%D0%98" in named
    printed = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    printed = re.sub(r"\s+", " ", printed.replace("\u00a0", " "))
    assert "Иванов Пётр" in printed and "КО-41" in printed and "+5 000 ₸" in printed
    assert "Плов, Компот" in printed and "3 950 ₸" in printed

    book = office.get(f"/money/children/{child}", format="xlsx")
    rows = list(load_workbook(io.BytesIO(book.content)).active.iter_rows(values_only=True))
    header = rows.index(("Дата", "Что", "Сведения", "Сумма, ₸", "Баланс, ₸"))
    lines = rows[header + 1 :]
    assert [line[3] for line in lines] == [5000, -350, -900, 200]
    assert [line[4] for line in lines] == [5000, 4650, 3750, 3950]
    assert isinstance(lines[0][0], datetime) and "КО-41" in lines[0][2]


def test_a_statement_of_another_period_starts_from_its_opening_balance(office: Office) -> None:
    child = office.id(CHILD)
    top_up(office, child, receipt="1", amount="1000")
    today = _today()
    later = office.get(f"/money/children/{child}", **{"from": (today + timedelta(days=1)).isoformat()})
    text = text_of(later.text)
    assert "Баланс на начало периода 1 000 ₸" in text and "За этот период баланс не менялся." in text
    earlier = text_of(office.get(f"/money/children/{child}", **{"from": "01.01.2025", "to": "31.01.2025"}).text)
    assert "Баланс на начало периода 0 ₸" in earlier
    backwards = office.get(f"/money/children/{child}", **{"from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 422 and 'id="to-error"' in backwards.text
    nonsense = office.get(f"/money/children/{child}", **{"from": "вчера"})
    assert nonsense.status_code == 422 and 'id="from-error"' in nonsense.text
    assert office.get(f"/money/children/{child}", **{"from": "вчера", "format": "pdf"}).status_code == 422


@pytest.mark.parametrize(
    ("period", "field"),
    [
        ({"from": "0001-01-01"}, "from"),
        ({"from": "31.12.9999"}, "from"),
        ({"from": "01.12.2026", "to": "31.12.9999"}, "to"),
        ({"to": "0001-01-01"}, "to"),
        ({"from": "1999-12-31", "to": "2000-01-31"}, "from"),
    ],
)
def test_a_date_far_in_the_past_or_future_is_refused_beside_its_field(
    office: Office, period: dict[str, str], field: str
) -> None:
    # Typing slips such as 0001 or 9999 once overflowed the statement's month arithmetic (500).
    child = office.id(CHILD)
    far = office.get(f"/money/children/{child}", **period)
    assert far.status_code == 422 and f'id="{field}-error"' in far.text
    assert "Выберите дату с 01.01.2000 по 31.12.2100." in text_of(far.text)
    assert "Баланс на начало периода" in text_of(far.text)  # this month's statement is still shown
    assert office.get(f"/money/children/{child}", format="pdf", **period).status_code == 422


def test_the_money_pages_sentences_are_whole_in_each_language() -> None:
    # A title or heading glued from pieces ("Statement" + ": " + name) cannot be put in another
    # order by a translator: each is one message with its placeholders, translated in kk and ru.
    for language in ("kk", "ru"):
        messages = catalog_messages(language)
        for message in ("Statement: {name}", "Class {name}: {sum}"):
            assert message in messages and messages[message] != message, (language, message)
            assert set(re.findall(r"{\w+}", messages[message])) == set(re.findall(r"{\w+}", message))
    assert catalog_messages("kk")["Class {name}: {sum}"].startswith("{name} сыныбы")


def test_a_period_too_long_is_counted_in_days_as_each_language_counts(office: Office) -> None:
    child = office.id(CHILD)
    long = office.get(f"/money/children/{child}", **{"from": "2025-01-01", "to": "2026-06-30"})
    assert long.status_code == 422 and 'id="to-error"' in long.text
    assert "Выписка охватывает не более 400 дней." in text_of(long.text)
    forms = catalog_plurals("ru")["A statement covers at most {n} day."]
    assert len(forms) == 3 and forms[0].endswith("{n} дня.") and forms[2].endswith("{n} дней.")
    assert (
        catalog_plurals("kk")["A statement covers at most {n} day."][0] == "Үзінді көшірме ең көбі {n} күнді қамтиды."
    )
