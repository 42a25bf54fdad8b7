"""The monthly reports: right by the raw events, verifiable, and never changed once issued."""

from __future__ import annotations

import base64
import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.db.schema import deployment_keys, dish_versions, people, reports, set_meals, wallet_outbox
from cloud_api.reports.deadline import is_working_day
from cloud_api.reports.issue import KINDS, issue_report, needs_draft
from cloud_api.reports.manifest import verify_files
from cloud_api.reports.marks import month_over
from cloud_api.reports.models import AttendanceReport, MealsReport
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, account_by_login, create_school_admin
from cloud_api.services.gateways import register_gateway
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from shared.contract import INGEST_PATH
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from tests.cloud_api.helpers import ADMIN, batch_body, event, sign_in, signed
from tests.cloud_api.school import CHILD, GOOD, HEADER, TEACHER, TEEN, iin

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_the_meals_report_adds_up_to_the_raw_events",
    "test_the_attendance_report_counts_people_not_taps",
    "test_a_region_sees_its_schools_summed_and_nobody_named",
    "test_a_report_never_changes_a_late_event_makes_a_new_version",
    "test_the_admin_lists_downloads_and_sees_the_chart",
)

OCTOBER = [date(2026, 10, d) for d in range(1, 32)]
SCHOOL_DAYS = [d for d in OCTOBER if is_working_day(d)]
PLOV = 70000
BEFORE_OCTOBER = datetime(2026, 9, 1, 9, tzinfo=LOCAL_TZ)  # when the school's roster was imported


def at(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}:00+05:00"


def lunch(category: str, price: int) -> dict[str, Any]:
    return {"period": "lunch", "category": category, "dishes": ["Палау"], "price_tiyn": price}


def post(client: TestClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 500):
        body = batch_body(events[start : start + 500])
        assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200


def late_meal(client: TestClient, who: dict[str, str]) -> date:
    """A discounted lunch of the teen's that a gateway delivers after the month's reports; its day."""
    day = SCHOOL_DAYS[10]
    body = batch_body(
        [
            event(
                9999,
                kind="meal",
                person_id=who[TEEN],
                reason="on_roster",
                meal=lunch("discounted", PLOV // 2),
                at=at(day, "12:50"),
            )
        ]
    )
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    return day


def reports_page(client: TestClient) -> str:
    """The reports page of the office as the school's administrator reads it, in Russian."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if account_by_login(conn, "head@s1.kz") is None:
            create_school_admin(conn, "head@s1.kz", "correct horse battery", "s1", actor=SYSTEM)
    token = sign_in(client, "head@s1.kz", "correct horse battery")["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    # The page's first address still leads there.
    page = client.get("/admin/schools/s1/reports", headers={"Accept-Language": "ru"})
    assert page.status_code == 200 and str(page.url).endswith("/office/schools/s1/reports")
    return page.text


@pytest.fixture
def school(client: TestClient) -> dict[str, Any]:
    """A school's October: the child eats free every school day, the teen (50 %) on Tuesdays."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов"}, price_tiyn=PLOV)
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin", at=BEFORE_OCTOBER)
        who = {r.iin: str(r.id) for r in conn.execute(select(people.c.iin, people.c.id))}
        set_meal_rules(
            conn, "s1", MealRules(periods=[MealPeriod(name="lunch", starts="12:00", ends="14:00")]), actor="admin"
        )
        upsert_dish(conn, "s1", plov, actor="cook")
        for day in SCHOOL_DAYS:
            menu = SetMeal(day=day, period="lunch", dish_ids=[plov.id], price_tiyn=PLOV)
            set_day_menu(conn, "s1", menu, actor="cook")
    events: list[dict[str, Any]] = []
    seq = 0

    def add(**fields: Any) -> None:
        nonlocal seq
        seq += 1
        events.append(event(seq, reason="on_roster", **fields))

    for day in SCHOOL_DAYS:
        add(person_id=who[CHILD], at=at(day, "08:05"))
        add(person_id=who[CHILD], at=at(day, "08:07"))  # tapped twice: still one person present
        add(kind="exit", person_id=who[CHILD], at=at(day, "14:30"))
        add(person_id=who[TEACHER], at=at(day, "07:40"))
        add(kind="meal", person_id=who[CHILD], meal=lunch("free", 0), at=at(day, "12:20"))
        if day.weekday() == 1:
            add(kind="meal", person_id=who[TEEN], meal=lunch("discounted", PLOV // 2), at=at(day, "12:40"))
    add(at=at(SCHOOL_DAYS[0], "08:10"))  # a child without consent: a count
    post(client, events)
    return {"who": who, "events": events, "engine": engine}


def test_the_meals_report_adds_up_to_the_raw_events(school: dict[str, Any]) -> None:
    with school["engine"].begin() as conn:
        issued = issue_report(conn, "s1", "2026-10", "meals")
    assert issued.version == 1 and issued.new and issued.missing_gateways == []
    content = MealsReport.model_validate_json(issued.files["meals.json"])  # the published schema holds
    meals = [e for e in school["events"] if e["kind"] == "meal"]
    free = [e for e in meals if e["meal"]["category"] == "free"]
    discounted = [e for e in meals if e["meal"]["category"] == "discounted"]
    totals = content.totals
    assert (totals.free.portions, totals.free.state_tiyn, totals.free.paid_tiyn) == (len(free), PLOV * len(free), 0)
    assert totals.discounted.portions == len(discounted) == sum(d.weekday() == 1 for d in SCHOOL_DAYS)
    assert totals.discounted.paid_tiyn == totals.discounted.state_tiyn == PLOV // 2 * len(discounted)
    assert totals.paid.portions == 0
    assert [d.date for d in content.days] == [d.isoformat() for d in SCHOOL_DAYS]  # nothing on days off
    first = content.days[0]
    assert first.menus[0].dishes[0].names["ru"] == "Плов" and first.menus[0].price_tiyn == PLOV
    assert {c.class_: c.categories.free.students for c in content.classes}["3Б"] == len(free)  # student-days

    book = load_workbook(io.BytesIO(issued.files["meals.xlsx"]))
    assert book.sheetnames == ["Отчёт", "По дням", "Блюда", "По классам"]
    days = book["По дням"]
    assert days.freeze_panes == "A2" and days["A2"].number_format == "DD.MM.YYYY" and "₸" in days["E2"].number_format
    assert days["B2"].value == "бесплатное" and days["E1"].value == "Оплачено семьями, ₸"
    rows = list(csv.reader(io.StringIO(issued.files["meals-days.csv"].decode("utf-8-sig"))))
    assert rows[0][0] == "Дата" and len(rows) - 1 == len(SCHOOL_DAYS) + len(discounted)


def test_the_attendance_report_counts_people_not_taps(school: dict[str, Any]) -> None:
    with school["engine"].begin() as conn:
        content = AttendanceReport.model_validate_json(
            issue_report(conn, "s1", "2026-10", "attendance").files["attendance.json"]
        )
    by_day = {d.date: d for d in content.days}
    first, second = by_day[SCHOOL_DAYS[0].isoformat()], by_day[SCHOOL_DAYS[1].isoformat()]
    assert (first.students, first.staff, first.anonymous, first.absent) == (1, 1, 1, 0)  # the teen came unnamed
    assert (second.students, second.staff, second.anonymous, second.absent) == (1, 1, 0, 1)
    republic_day = by_day["2026-10-26"]  # Republic Day fell on a Sunday: the Monday is off
    assert not republic_day.working_day and republic_day.absent == 0 and republic_day.students == 0
    child = next(p for p in content.people if p.person_id == school["who"][CHILD])
    assert len(child.days) == len(SCHOOL_DAYS) and child.days[0].first_entry == "08:05"
    assert child.days[0].last_exit == "14:30" and child.class_ == "3Б"
    assert all(p.person_id != "anonymous" and p.name for p in content.people)  # nobody unnamed is listed


def test_the_attendance_workbook_is_a_tabel_a_row_per_person_a_column_per_day(school: dict[str, Any]) -> None:
    with school["engine"].begin() as conn:
        issued = issue_report(conn, "s1", "2026-10", "attendance")
    book = load_workbook(io.BytesIO(issued.files["attendance.xlsx"]))
    assert book.sheetnames == ["Отчёт", "По дням", "Поимённо"]
    assert book["Отчёт"]["B2"].value == "s1" and book["Отчёт"]["B3"].value == "2026-10"
    days = book["По дням"]
    assert days["A2"].number_format == "DD.MM.YYYY" and days["A2"].value.date() == OCTOBER[0]
    tabel = book["Поимённо"]
    assert tabel.freeze_panes == "C2"  # names and classes stay in view
    headings = [c.value for c in tabel[1]]
    assert headings[:2] == ["ФИО", "Класс"] and headings[2:] == [d.strftime("%d.%m") for d in OCTOBER]
    row = next(r for r in tabel.iter_rows(min_row=2, values_only=True) if r[1] == "3Б")
    first, weekend = 2 + OCTOBER.index(SCHOOL_DAYS[0]), 2 + OCTOBER.index(date(2026, 10, 4))
    assert row[first] == "08:05–14:30" and row[weekend] is None  # a Sunday: no cell
    assert sum(v is not None for v in row[2:]) == len(SCHOOL_DAYS)
    assert tabel.max_row == 1 + 2  # the child and the teacher; the child without consent is a count only


def test_a_dish_named_like_a_formula_stays_text_in_the_workbook(school: dict[str, Any]) -> None:
    engine = school["engine"]
    trap = Dish(id=uuid.uuid4(), names={"ru": '=HYPERLINK("http://evil.example","Плов")'}, price_tiyn=PLOV)
    with engine.begin() as conn:
        # Refused at the canteen's door now (cloud_api.core.formulas); a dish stored before stays.
        stored = {
            "school_id": "s1",
            "dish_id": trap.id,
            "names": trap.names,
            "price_tiyn": PLOV,
            "allergens": [],
            "version": 99,
            "at": datetime.now(UTC),
            "actor": "cook",
        }
        conn.execute(insert(dish_versions).values(**stored))
        set_day_menu(
            conn, "s1", SetMeal(day=SCHOOL_DAYS[0], period="lunch", dish_ids=[trap.id], price_tiyn=PLOV), actor="cook"
        )
        issued = issue_report(conn, "s1", "2026-10", "meals")
    dishes = load_workbook(io.BytesIO(issued.files["meals.xlsx"]))["Блюда"]
    cell = next(c for row in dishes.iter_rows(min_row=2) for c in row if str(c.value).startswith("="))
    assert cell.data_type == "s"  # a string, not a formula a spreadsheet would run


def test_a_report_never_changes_a_late_event_makes_a_new_version(school: dict[str, Any], client: TestClient) -> None:
    engine = school["engine"]
    with engine.begin() as conn:
        first = issue_report(conn, "s1", "2026-10", "meals")
        again = issue_report(conn, "s1", "2026-10", "meals")
    assert (again.version, again.new) == (1, False)  # nothing changed: nothing issued
    late_day = late_meal(client, school["who"])  # the canteen's gateway was offline; it arrives in November
    with engine.begin() as conn:
        second = issue_report(conn, "s1", "2026-10", "meals")
        kept = conn.execute(select(reports.c.version, reports.c.manifest).where(reports.c.kind == "meals")).all()
        public = conn.execute(select(deployment_keys.c.public).where(deployment_keys.c.name == "reports")).scalar()
    assert second.version == 2 and second.new
    assert {"date": late_day.isoformat(), "field": "discounted.portions", "before": 0, "after": 1} in second.changes
    assert sorted(v for v, _ in kept) == [1, 2] and bytes(kept[0][1]) == first.manifest  # v1 stays as it was
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
    verify_files(key, second.manifest, second.signature, second.files)  # the receiver's check passes


def test_a_gateway_not_heard_from_since_the_month_ended_is_named(school: dict[str, Any]) -> None:
    with school["engine"].begin() as conn:
        register_gateway(conn, "gw3", "s1", "another-gateway-key-123")  # the canteen's, never online
        issued = issue_report(conn, "s1", "2026-10", "attendance")
    assert issued.missing_gateways == ["gw3"]  # gw1 delivered its batches in November: heard from


def test_the_cli_writes_the_files(school: dict[str, Any], tmp_path: Any, database_url: str) -> None:
    from typer.testing import CliRunner

    from mektep.cli import app

    result = CliRunner().invoke(
        app,
        [
            "report",
            "build",
            "--school",
            "s1",
            "--month",
            "2026-10",
            "--format",
            "xlsx",
            "--out",
            str(tmp_path),
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "s1" / "2026-10" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "attendance.manifest.json",
        "attendance.manifest.sig",
        "attendance.xlsx",
        "meals.manifest.json",
        "meals.manifest.sig",
        "meals.xlsx",
    ]
    assert "meals 2026-10 v1 issued" in result.output


def test_a_region_sees_its_schools_summed_and_nobody_named(school: dict[str, Any], client: TestClient) -> None:
    from cloud_api.db.schema import schools
    from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role

    engine = school["engine"]
    with engine.begin() as conn:
        conn.execute(
            insert(schools),
            [
                {"school_id": "s1", "name": "№ 1", "region_id": "almaty"},
                {"school_id": "s2", "name": "№ 2", "region_id": "almaty"},
            ],
        )
        own = issue_report(conn, "s1", "2026-10", "meals")
        for login, role, scope in (
            ("akimat@almaty.kz", Role.REGION, "almaty"),
            ("abay@region.kz", Role.REGION, "abay"),
            ("minister@edu.kz", Role.MINISTRY, None),
        ):
            account = create_account(conn, login, actor=SYSTEM, password="correct horse battery")
            grant_role(conn, account.id, role, scope, actor=SYSTEM)

    def token(login: str) -> dict[str, str]:
        return sign_in(client, login, "correct horse battery")

    answer = client.get("/v1/regions/almaty/reports/2026-10", headers=token("akimat@almaty.kz"))
    assert answer.status_code == 200
    region = answer.json()
    mine = MealsReport.model_validate_json(own.files["meals.json"])
    assert region["totals"] == mine.totals.model_dump()  # s2 had nothing: the region is s1
    assert [s["school_id"] for s in region["schools"]] == ["s1"] and region["schools"][0]["name"] == "№ 1"
    first = region["days"][0]
    assert (first["students"], first["staff"], first["anonymous"]) == (1, 1, 1)
    assert school["who"][CHILD] not in answer.text and "Нұрланова" not in answer.text  # counts, never names
    assert client.get("/v1/regions/almaty/reports/2026-10", headers=token("abay@region.kz")).status_code == 403
    country = client.get("/v1/reports/all/2026-10", headers=token("minister@edu.kz"))
    assert country.status_code == 200 and country.json()["totals"] == region["totals"]
    assert client.get("/v1/reports/all/2026-10", headers=token("akimat@almaty.kz")).status_code == 403


def test_the_admin_lists_downloads_and_sees_the_chart(school: dict[str, Any], client: TestClient) -> None:
    with school["engine"].begin() as conn:
        issued = issue_report(conn, "s1", "2026-10", "attendance")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    [listed] = client.get("/v1/schools/s1/reports", headers=admin).json()
    assert (listed["month"], listed["kind"], listed["version"]) == ("2026-10", "attendance", 1)
    assert listed["files"] == ["attendance-days.csv", "attendance-people.csv", "attendance.json", "attendance.xlsx"]
    got = client.get("/v1/schools/s1/reports/2026-10/attendance/1/attendance.xlsx", headers=admin)
    assert got.content == issued.files["attendance.xlsx"] and "spreadsheetml" in got.headers["content-type"]
    page = reports_page(client)
    assert page.count("<rect") == len(OCTOBER) and "Отчёт о посещаемости" in page
    assert "· 2026-10</h2>" in page and page.count("</text>") == len(OCTOBER) + 2  # each day named, the scale
    assert client.get("/v1/reports/schema").json()["oneOf"][0]["title"] == "MealsReport"


def test_a_late_earlier_entry_becomes_the_first_and_a_late_earlier_exit_does_not_the_last(
    school: dict[str, Any], client: TestClient
) -> None:
    day = SCHOOL_DAYS[3]  # the child came at 08:05 and left at 14:30; the side door's gateway was offline
    body = batch_body(
        [
            event(9001, person_id=school["who"][CHILD], reason="on_roster", at=at(day, "07:52")),
            event(9002, kind="exit", person_id=school["who"][CHILD], reason="on_roster", at=at(day, "11:10")),
        ]
    )
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    with school["engine"].begin() as conn:
        content = AttendanceReport.model_validate_json(
            issue_report(conn, "s1", "2026-10", "attendance").files["attendance.json"]
        )
    child = next(p for p in content.people if p.person_id == school["who"][CHILD])
    visit = next(v for v in child.days if v.date == day.isoformat())
    assert (visit.first_entry, visit.last_exit) == ("07:52", "14:30")


def test_a_price_changed_after_the_month_was_served_moves_no_meal_already_served(school: dict[str, Any]) -> None:
    engine = school["engine"]
    with engine.begin() as conn:
        before = MealsReport.model_validate_json(issue_report(conn, "s1", "2026-10", "meals").files["meals.json"])
        dish_id = conn.execute(select(dish_versions.c.dish_id)).scalars().first()
        for day in SCHOOL_DAYS:  # the cook raises the lunch from 700 to 900 ₸, after the month was served
            set_day_menu(
                conn, "s1", SetMeal(day=day, period="lunch", dish_ids=[dish_id], price_tiyn=90000), actor="cook"
            )
        after = MealsReport.model_validate_json(issue_report(conn, "s1", "2026-10", "meals").files["meals.json"])
    free = [e for e in school["events"] if e["kind"] == "meal" and e["meal"]["category"] == "free"]
    assert after.totals.free.state_tiyn == before.totals.free.state_tiyn == PLOV * len(free)
    assert after.totals.discounted == before.totals.discounted
    assert after.days[0].menus[0].price_tiyn == 90000  # the menu itself says what lunch costs now


def test_a_price_changed_after_lunch_applies_to_the_meals_served_after_it_only(
    school: dict[str, Any], client: TestClient
) -> None:
    engine, who = school["engine"], school["who"]
    day = next(d for d in SCHOOL_DAYS if d.weekday() == 2)  # a Wednesday: the teen has not eaten yet
    with engine.begin() as conn:
        dish_id = conn.execute(select(dish_versions.c.dish_id)).scalars().first()
        set_day_menu(conn, "s1", SetMeal(day=day, period="lunch", dish_ids=[dish_id], price_tiyn=90000), actor="cook")
        # The change was made at 12:30 that day: after the child's free lunch (12:20), before the teen's.
        newest = select(func.max(set_meals.c.id)).scalar_subquery()
        changed_at = datetime.fromisoformat(at(day, "12:30"))
        conn.execute(update(set_meals).where(set_meals.c.id == newest).values(at=changed_at))
    post(
        client,
        [
            event(
                5000,
                kind="meal",
                person_id=who[TEEN],
                reason="on_roster",
                meal=lunch("discounted", 45000),
                at=at(day, "12:50"),
            )
        ],
    )
    with engine.begin() as conn:
        content = MealsReport.model_validate_json(issue_report(conn, "s1", "2026-10", "meals").files["meals.json"])
        sent = {
            row.period: row.payload
            for row in conn.execute(select(wallet_outbox).where(wallet_outbox.c.local_date == day))
            if row.payload["category"] == "discounted"
        }
    that_day = next(d for d in content.days if d.date == day.isoformat())
    assert that_day.categories.free.state_tiyn == PLOV  # served at 12:20, at 700 ₸
    assert that_day.categories.discounted.state_tiyn == 90000 - 45000  # served at 12:50, at 900 ₸
    assert sent["lunch"]["full_price_tiyn"] == 90000  # and the Social Wallet is told the same


def test_a_menu_entered_after_the_meals_prices_them(client: TestClient) -> None:
    """A school whose canteen served before its menu was entered: the first menu prices those meals."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    day = SCHOOL_DAYS[0]
    plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов"}, price_tiyn=PLOV)
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin", at=BEFORE_OCTOBER)
        who = {r.iin: str(r.id) for r in conn.execute(select(people.c.iin, people.c.id))}
        set_meal_rules(
            conn, "s1", MealRules(periods=[MealPeriod(name="lunch", starts="12:00", ends="14:00")]), actor="admin"
        )
        upsert_dish(conn, "s1", plov, actor="cook")
    post(
        client,
        [event(1, kind="meal", person_id=who[CHILD], reason="on_roster", meal=lunch("free", 0), at=at(day, "12:20"))],
    )
    with engine.begin() as conn:
        set_day_menu(conn, "s1", SetMeal(day=day, period="lunch", dish_ids=[plov.id], price_tiyn=PLOV), actor="cook")
        content = MealsReport.model_validate_json(issue_report(conn, "s1", "2026-10", "meals").files["meals.json"])
    assert content.totals.free.state_tiyn == PLOV


def test_a_month_still_running_names_only_gateways_silent_for_an_hour(school: dict[str, Any]) -> None:
    from datetime import timedelta

    from cloud_api.reports.issue import missing_gateways

    with school["engine"].begin() as conn:
        register_gateway(conn, "gw3", "s1", "another-gateway-key-123")  # never online
        now = datetime.now(LOCAL_TZ)
        this_month = now.strftime("%Y-%m")
        assert missing_gateways(conn, this_month, ["s1"], now) == ["gw3"]  # gw1 sent its batches just now
        assert missing_gateways(conn, this_month, ["s1"], now + timedelta(hours=2)) == ["gw1", "gw3"]


NEWCOMER = ["student", iin("16052250091"), "Ахметов", "Нұрсұлтан", "2а", "kk", "", "", "", "", ""]


def test_a_roster_changed_after_the_month_leaves_its_reports_as_issued(school: dict[str, Any]) -> None:
    engine = school["engine"]
    with engine.begin() as conn:
        assert all(issue_report(conn, "s1", "2026-10", kind).version == 1 for kind in KINDS)
    moved = [["4а" if (cell == "3б" and row[1] == CHILD) else cell for cell in row] for row in GOOD]
    renamed = [[*row[:3], "Марлен", *row[4:]] if row[1] == TEACHER else row for row in moved]
    with engine.begin() as conn:  # later: the child moves class, a name is corrected, a student arrives
        changed = import_roster(conn, "s1", parse_rows([HEADER, *renamed, NEWCOMER]), actor="admin")
    assert (changed.created, changed.updated) == (1, 2)
    with engine.begin() as conn:
        assert not any(needs_draft(conn, "s1", "2026-10", kind) for kind in KINDS)  # the hourly job skips it
        again = {kind: issue_report(conn, "s1", "2026-10", kind) for kind in KINDS}  # and by hand: the same
    assert [(a.version, a.new) for a in again.values()] == [(1, False), (1, False)]
    content = AttendanceReport.model_validate_json(again["attendance"].files["attendance.json"])
    assert content.enrolled_students == 2 and max(d.absent for d in content.days) == 1
    child = next(p for p in content.people if p.person_id == school["who"][CHILD])
    teacher = next(p for p in content.people if p.person_id == school["who"][TEACHER])
    assert (child.class_, teacher.name) == ("3Б", "Сейітов Марат")  # as they were in October
    meals = MealsReport.model_validate_json(again["meals"].files["meals.json"])
    assert [c.class_ for c in meals.classes] == ["3Б", "9А"]


def test_a_student_who_joined_mid_month_is_absent_only_from_that_day(school: dict[str, Any]) -> None:
    joined = datetime(2026, 10, 15, 10, tzinfo=LOCAL_TZ)
    with school["engine"].begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, NEWCOMER]), actor="admin", at=joined)
        issued = issue_report(conn, "s1", "2026-10", "attendance")
    content = AttendanceReport.model_validate_json(issued.files["attendance.json"])
    absent = {date.fromisoformat(d.date): d.absent for d in content.days if d.working_day}
    # the teen comes unnamed on the first school day and not at all after; the newcomer never comes
    assert absent == {day: (0 if day == SCHOOL_DAYS[0] else 1) + (day >= joined.date()) for day in SCHOOL_DAYS}
    assert content.enrolled_students == 3


def test_a_month_is_over_for_its_roster_two_hours_after_midnight() -> None:
    # an import begun at 23:59 on the 31st is journalled then but may commit after midnight
    assert not month_over("2026-10", datetime(2026, 11, 1, 1, 59, tzinfo=LOCAL_TZ))
    assert month_over("2026-10", datetime(2026, 11, 1, 2, 0, tzinfo=LOCAL_TZ))  # the first build
    assert month_over("2026-12", datetime(2027, 1, 1, 2, 0, tzinfo=LOCAL_TZ))
    assert not month_over("2026-12", datetime(2026, 12, 31, 23, 0, tzinfo=LOCAL_TZ))


def test_a_student_who_left_mid_month_is_absent_only_until_then(school: dict[str, Any]) -> None:
    left = datetime(2026, 10, 20, 10, tzinfo=LOCAL_TZ)  # the complete export of the 20th no longer lists the teen
    stayed = [row for row in GOOD if row[1] != TEEN]
    with school["engine"].begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *stayed]), actor="admin", at=left, complete=True)
        issued = issue_report(conn, "s1", "2026-10", "attendance")
    content = AttendanceReport.model_validate_json(issued.files["attendance.json"])
    absent = {date.fromisoformat(d.date): d.absent for d in content.days if d.working_day}
    assert absent == {day: int(SCHOOL_DAYS[0] < day < left.date()) for day in SCHOOL_DAYS}
    assert content.enrolled_students == 1


def chart_bars(page: str) -> dict[str, tuple[float, str]]:
    """The admin page's chart: each day's bar height (of 100) and its tooltip, by date."""
    bars = re.findall(r'<rect x="\d+" y="[\d.]+" width="10" height="([\d.]+)"[^>]*><title>([^<]+)</title>', page)
    return {title.split(":")[0]: (float(height), title) for height, title in bars}


def test_the_chart_shows_students_present_and_the_entries_without_consent_apart(
    school: dict[str, Any], client: TestClient
) -> None:
    # Two students enrolled: the child (consent) comes every school day; the teen (no consent) came
    # unnamed on the first, and went out and in again: three passages of one child nobody can name.
    day = SCHOOL_DAYS[0]
    again = [
        event(9101, kind="exit", reason="no_consent", at=at(day, "10:00")),
        event(9102, reason="no_consent", at=at(day, "10:20")),
    ]
    body = batch_body(again)
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    with school["engine"].begin() as conn:
        content = AttendanceReport.model_validate_json(
            issue_report(conn, "s1", "2026-10", "attendance").files["attendance.json"]
        )
    first = next(d for d in content.days if d.date == day.isoformat())
    assert (content.enrolled_students, first.students, first.anonymous, first.absent) == (2, 1, 3, 0)
    page = reports_page(client)
    bars = chart_bars(page)
    assert len(bars) == len(OCTOBER)
    # The chart's full height is the roster (2), not the students plus the unnamed passages (4).
    assert '<text x="14" y="8" font-size="7" text-anchor="end">2</text>' in page
    height, title = bars[day.isoformat()]
    assert height == 50.0  # one of the two students: never "4 present in a school of 2"
    assert "Присутствовали обучающиеся 1" in title and "Входы без согласия 3" in title
    assert all(h <= 100 for h, _ in bars.values())
    assert "Обучающихся по списку: 2" in page


def test_a_month_issued_before_it_ends_counts_nobody_absent_on_the_days_to_come(
    school: dict[str, Any], client: TestClient
) -> None:
    issued_on = datetime(2026, 10, 5, 15, tzinfo=LOCAL_TZ)  # a preliminary issue, on the 5th
    with school["engine"].begin() as conn:
        early = issue_report(conn, "s1", "2026-10", "attendance", now=issued_on)
    content = AttendanceReport.model_validate_json(early.files["attendance.json"])
    absent = {date.fromisoformat(d.date): d.absent for d in content.days if d.working_day}
    # Nobody is absent on a working day still to come; the days that had happened count as the final
    # report does (the teen came unnamed on the 1st, and not on the 2nd or the 5th).
    assert absent == {day: int(day <= issued_on.date() and day != SCHOOL_DAYS[0]) for day in SCHOOL_DAYS}
    to_come = [d for d in content.days if date.fromisoformat(d.date) > issued_on.date()]
    assert len(to_come) == 26 and all(d.future and d.absent == 0 for d in to_come)
    assert not any(d.future for d in content.days if date.fromisoformat(d.date) <= issued_on.date())
    tabled = load_workbook(io.BytesIO(early.files["attendance.xlsx"]))["По дням"]
    rows = {r[0].date(): r for r in tabled.iter_rows(min_row=2, values_only=True)}
    assert rows[date(2026, 10, 2)][5] == 1 and rows[date(2026, 10, 30)][5] is None  # blank, not "0 absent"

    page = reports_page(client)
    assert page.count("День ещё не наступил") == 26 and page.count("<rect") == len(OCTOBER)

    # Once the month is over it is issued again, with every working day's absences and no day to come.
    with school["engine"].begin() as conn:
        final = issue_report(conn, "s1", "2026-10", "attendance", now=datetime(2026, 11, 2, 9, tzinfo=LOCAL_TZ))
    assert final.version == 2 and b'"future"' not in final.files["attendance.json"]
    later = SCHOOL_DAYS[-1].isoformat()
    assert {"date": later, "field": "absent", "before": 0, "after": 1} in final.changes
