"""A child's money for the family: the month's statement and its running balance, the low-balance
notice's rule (at most once in two days, on the ingest's clock), and the money page's forms as a
phone's browser sends them (amounts as typed, mistakes answered beside the field, never a 500)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from openpyxl import load_workbook
from sqlalchemy import Connection, Engine, select

from cloud_api.db.schema import daily_limits, low_balance_thresholds, push_queue
from cloud_api.push.notices import notice_id
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.gateways import find_gateway, register_gateway
from cloud_api.services.ingest import parse_batch, store_batch
from cloud_api.services.low_balance import DEFAULT_THRESHOLD_TIYN, set_threshold, threshold_of
from cloud_api.services.prepaid import EntryKind, record_credit
from cloud_api.services.roster_import import import_roster
from cloud_api.services.signatures import SignedBody
from cloud_api.services.statements import statement_between
from shared.contract import INGEST_PATH, sign
from shared.localtime import LOCAL_TZ
from tests.cloud_api.helpers import KEY, batch_body, event
from tests.cloud_api.school import (
    CHILD,
    FATHER,
    GOOD,
    HEADER,
    OTHER_CHILD,
    S1_EXTRA,
    TEEN,
    World,
    people_by_iin,
    serve_lunch_today,
)
from tests.cloud_api.test_parent_app import signed_in
from tests.cloud_api.test_push import earlier_today, ingest

ON_CITUS = ("test_a_low_balance_is_told_once_in_two_days_on_the_ingests_clock",)


def _people(conn: Connection) -> dict[str, UUID]:
    import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor="admin")
    register_gateway(conn, "gw1", "s1", KEY)
    return people_by_iin(conn)


def _charge(conn: Connection, child: UUID, price_tiyn: int, at: datetime) -> None:
    """A paid lunch served at ``at`` reaching the cloud then: ingest's own transaction, on ``at`` as its clock."""
    meal = {"period": "lunch", "category": "paid", "dishes": ["Палау", "Шай"], "price_tiyn": price_tiyn}
    body = batch_body([event(1, kind="meal", person_id=str(child), reason="on_roster", meal=meal, at=at.isoformat())])
    gateway = find_gateway(conn, "gw1")
    assert gateway is not None
    stamp = str(int(at.timestamp()))
    signed = SignedBody(gateway, body, stamp, sign(KEY.encode(), "POST", INGEST_PATH, stamp, body))
    [result] = store_batch(conn, signed, parse_batch(body), at).results
    assert result.status.value == "accepted"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the office's query, run on each database there
def test_the_months_statement_runs_the_balance_on_from_the_month_before(engine: Engine) -> None:
    now = datetime.now(UTC)
    this_month = now.astimezone(LOCAL_TZ).date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    with engine.begin() as conn:
        teen = _people(conn)[TEEN]
        _charge(conn, teen, 700_00, datetime.combine(last_month, datetime.min.time(), LOCAL_TZ) + timedelta(hours=12))
        record_credit(conn, "s1", teen, 5_000_00, EntryKind.TOP_UP, actor="admin", receipt="КО-1", method="cash")
        _charge(conn, teen, 900_00, now)
        _charge(conn, teen, 650_50, now)
    with engine.connect() as conn:
        month = statement_between(conn, "s1", teen, this_month, (this_month + timedelta(days=32)).replace(day=1))
        before = statement_between(conn, "s1", teen, last_month, this_month - timedelta(days=1))
    assert [(line.kind, line.amount_tiyn, line.balance_tiyn) for line in before.lines] == [("meal", -700_00, -700_00)]
    assert month.opening_tiyn == -700_00  # the month before's meal, unpaid then
    assert [(line.kind, line.amount_tiyn, line.balance_tiyn) for line in month.lines] == [
        ("top_up", 5_000_00, 4_300_00),
        ("meal", -900_00, 3_400_00),
        ("meal", -650_50, 2_749_50),
    ]
    assert month.lines[1].dishes == ("Палау", "Шай")
    totals = (month.credited_tiyn, month.charged_tiyn, month.meals, month.closing_tiyn)
    assert totals == (5_000_00, 1_550_50, 2, 2_749_50)


def _told(conn: Connection) -> list[tuple[UUID, str, dict[str, Any]]]:
    """The low-balance notices in the push queue, in order: whose, the key (its local day), the facts."""
    q = push_queue.c
    rows = conn.execute(select(q.person_id, q.event_id, q.facts).where(q.kind == "low_balance").order_by(q.id))
    days = [(date(2026, 12, 7) + timedelta(days=n)).isoformat() for n in range(4)]
    return [
        (r.person_id, next(d for d in days if notice_id("low_balance", r.person_id, d) == r.event_id), r.facts)
        for r in rows
    ]


def test_a_low_balance_is_told_once_in_two_days_on_the_ingests_clock(engine: Engine) -> None:
    monday = datetime(2026, 12, 7, 12, 30, tzinfo=LOCAL_TZ)  # a school day's lunch, local time
    with engine.begin() as conn:
        who = _people(conn)
        serve_lunch_today(conn, "s1", prepaid=True)  # a school of top-ups: only there is a balance watched
        teen, child, other = who[TEEN], who[CHILD], who[OTHER_CHILD]
        for pupil in (teen, child, other):
            record_credit(conn, "s1", pupil, 1_500_00, EntryKind.TOP_UP, actor="admin", receipt=f"R-{pupil}")
        # Дана's father wants no such notice; Әлия's mother keeps the default.
        set_threshold(conn, "s1", other, who[FATHER], None, actor="father", now=monday)
    with engine.connect() as conn:
        assert threshold_of(conn, "s1", child).tiyn == DEFAULT_THRESHOLD_TIYN

    def lunch(pupil: UUID, price_tiyn: int, at: datetime) -> None:
        with engine.begin() as conn:
            _charge(conn, pupil, price_tiyn, at)

    lunch(teen, 400_00, monday)  # 1 100 ₸ left: above the threshold of 1 000 ₸
    lunch(teen, 700_00, monday + timedelta(minutes=5))  # 400 ₸: below, told
    lunch(teen, 100_00, monday + timedelta(hours=1))  # 300 ₸: the same day, nothing new
    lunch(other, 1_400_00, monday)  # far below, but his family turned the notice off
    lunch(teen, 100_00, monday + timedelta(days=1))  # Tuesday, still below: not again the next day
    lunch(teen, 100_00, monday + timedelta(days=2, hours=-4))  # Wednesday morning: the day after, a reminder
    lunch(child, 600_00, monday + timedelta(days=2))  # 900 ₸: another child's own first notice
    with engine.connect() as conn:
        told = _told(conn)
    assert told == [
        (teen, "2026-12-07", {"balance_tiyn": 400_00, "threshold_tiyn": 1_000_00}),
        (teen, "2026-12-09", {"balance_tiyn": 100_00, "threshold_tiyn": 1_000_00}),
        (child, "2026-12-09", {"balance_tiyn": 900_00, "threshold_tiyn": 1_000_00}),
    ]


# -- the page, as the phone's browser sends its forms (SQLite: the SQL is the services', tested above) ----------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_parent_sets_the_limit_and_the_notice_as_typed_and_is_told_each_mistake(world: World) -> None:
    teen = world.ids[TEEN]
    client = signed_in(world)
    page = f"/app/children/{teen}/money"
    assert "Дневной лимит" in client.get(page).text and "ниже 1 000 ₸" in client.get(page).text.replace("\xa0", " ")

    for typed, error in (
        ("полторы тысячи", "Введите сумму в тенге, например 1 000 или 1000,50."),
        ("0", "Лимит 0 ₸ не даст выдать ни одного платного питания"),
        ("", "Введите дневной лимит в тенге, например 1 500, или снимите лимит."),
        ("1 000 000", "Это больше 100 000 ₸: проверьте сумму."),
        ("-500", "Введите сумму в тенге, например 1 000 или 1000,50."),
    ):
        refused = client.post(f"{page}/limit", data={"limit": typed, "action": "save"})
        text = refused.text.replace("\xa0", " ")
        assert refused.status_code == 422 and 'class="error-summary"' in text, typed
        assert f'<p class="field-error" id="limit-error">{error}' in text, typed
        assert f'value="{typed}"' in text  # what was typed stays, to be corrected
        assert f'<a href="{page}?month=' in text  # the months' links lead to the page, not to the form's address
    with world.app.state.engine.connect() as conn:
        assert conn.execute(select(daily_limits)).first() is None  # nothing stored by a mistake

    saved = client.post(f"{page}/limit", data={"limit": "1 500,50 ₸", "action": "save"})
    assert saved.status_code == 200 and "Сохранено" in saved.text
    assert "не больше 1 500,50 ₸ в день" in saved.text.replace("\xa0", " ")
    removed = client.post(f"{page}/limit", data={"limit": "1 500,50", "action": "remove"})
    assert "Сейчас: дневного лимита нет." in removed.text

    bad = client.post(f"{page}/notice", data={"threshold": "1,2,3", "action": "save"})
    assert bad.status_code == 422 and 'id="threshold-error"' in bad.text
    client.post(f"{page}/notice", data={"threshold": "2000", "action": "save"})
    assert "ниже 2 000 ₸" in client.get(page).text.replace("\xa0", " ")
    off = client.post(f"{page}/notice", data={"threshold": "2000", "action": "off"})
    assert "Сейчас: уведомления о низком балансе нет." in off.text
    with world.app.state.engine.connect() as conn:
        assert [r.threshold_tiyn for r in conn.execute(select(low_balance_thresholds))] == [None]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_statement_downloads_and_no_other_family_reaches_it(world: World) -> None:
    teen = world.ids[TEEN]
    with world.app.state.engine.begin() as conn:
        record_credit(conn, "s1", teen, 3_000_00, EntryKind.TOP_UP, actor="admin", receipt="КО-9", method="cash")
    meal = {"period": "lunch", "category": "paid", "dishes": ["Плов", "Компот"], "price_tiyn": 800_00}
    ingest(world, event(1, kind="meal", person_id=str(teen), reason="on_roster", meal=meal, at=earlier_today(5)))
    client = signed_in(world)
    month = datetime.now(UTC).astimezone(LOCAL_TZ).strftime("%Y-%m")

    got = client.get(f"/app/children/{teen}/money?month={month}&format=csv")
    assert got.headers["content-type"].startswith("text/csv") and "attachment" in got.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0] == ["Дата", "Что", "Сведения", "Сумма, ₸", "Баланс, ₸"]
    assert [r[1:] for r in rows[1:]] == [
        ["Баланс на начало периода", "", "", "0"],
        ["Пополнение", "наличные, квитанция № КО-9", "3000", "3000"],
        ["Питание", "обед: Плов, Компот", "-800", "2200"],
    ]
    book = load_workbook(io.BytesIO(client.get(f"/app/children/{teen}/money?month={month}&format=xlsx").content))
    values = [[c for c in row if c is not None] for row in book.active.iter_rows(values_only=True)]
    assert ["Баланс на конец периода", 2200] in values

    january = client.get(f"/app/children/{teen}/money?month=2026-01").text
    assert "Выписка: январь 2026" in january and "За этот период баланс не менялся." in january

    father = signed_in(world, "father@mail.kz")
    assert father.get(f"/app/children/{teen}/money").status_code == 404
    assert father.get(f"/app/children/{teen}/money?format=csv").status_code == 404
    assert father.post(f"/app/children/{teen}/money/limit", data={"limit": "1"}).status_code == 404
    assert father.post(f"/app/children/{teen}/money/notice", data={"threshold": "bad"}).status_code == 404
    forged = father.post(
        f"/app/children/{world.ids[OTHER_CHILD]}/money/limit",
        data={"limit": "500"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
