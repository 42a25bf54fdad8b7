"""The region's and the ministry's desks in the office, and the deployment administrator's accounts page.

A region (almaty: schools s1 and s2; abay: s3) whose s1 served October's lunches (the ``school``
fixture of the reports' tests) and has its reports issued; s2's gateway has not been heard from.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import event, insert, select

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.core.errors import DomainError
from cloud_api.db.schema import audit_log, schools
from cloud_api.reports.authority import check_month, month_sums, region_month, school_file, school_reports
from cloud_api.reports.deadline import DeadlinePolicy
from cloud_api.reports.issue import issue_report
from cloud_api.reports.store import VersionKey
from cloud_api.services.accounts import (
    SYSTEM,
    Grant,
    Principal,
    Role,
    account_by_login,
    create_account,
    grant_role,
    roles_in_force,
)
from shared.localtime import LOCAL_TZ
from tests.cloud_api.helpers import sign_in
from tests.cloud_api.test_reports import school  # noqa: F401  (the fixture: a school's October)

# The flows that run on Citus too (tests/cloud_api/conftest.py); the rest on SQLite and PostgreSQL.
ON_CITUS = (
    "test_the_region_sees_each_schools_report_state_the_deadline_and_filters",
    "test_the_region_opens_a_schools_report_with_names_and_downloads_its_files",
    "test_the_ministry_reads_states_and_sums_but_no_school_report",
    "test_the_sums_are_in_tenge_month_to_month_and_downloadable",
    "test_the_service_enforces_who_reads_names",
)


PASSWORD = "correct horse battery"
MONTH = "2026-10"
STAFF = {
    "akimat@almaty.kz": [(Role.REGION, "almaty")],
    "abay@region.kz": [(Role.REGION, "abay")],
    "minister@edu.kz": [(Role.MINISTRY, None)],
    "analyst@edu.kz": [(Role.MINISTRY, None), (Role.REGION, "almaty")],  # granted more: almaty's files
    "it@mektep.kz": [(Role.DEPLOYMENT_ADMIN, None)],
}


@pytest.fixture
def region(school: dict[str, Any], client: TestClient) -> dict[str, Any]:  # noqa: F811
    """Three schools in two regions, s1's October issued, and an account of each kind."""
    engine = school["engine"]
    with engine.begin() as conn:
        conn.execute(
            insert(schools),
            [
                {"school_id": "s1", "name": "Школа № 1", "region_id": "almaty"},
                {"school_id": "s2", "name": "Школа № 2", "region_id": "almaty"},
                {"school_id": "s3", "name": "Абай мектебі", "region_id": "abay"},
            ],
        )
        for kind in ("meals", "attendance"):
            issue_report(conn, "s1", MONTH, kind)
        issue_report(conn, "almaty", MONTH, "region")
        issue_report(conn, "KZ", MONTH, "country")
        for login, grants in STAFF.items():
            account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
            for role, scope in grants:
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
    return school


def as_(client: TestClient, login: str, password: str = PASSWORD) -> TestClient:
    """The client signed in to the office as ``login`` (password and authenticator code)."""
    token = sign_in(client, login, password)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    return client


def get(client: TestClient, path: str) -> Any:
    return client.get(path, headers={"Accept-Language": "ru"})


def test_the_region_sees_each_schools_report_state_the_deadline_and_filters(
    region: dict[str, Any], client: TestClient
) -> None:
    page = get(as_(client, "akimat@almaty.kz"), f"/office/regions/almaty/schools?month={MONTH}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Школа № 1" in text and "Школа № 2" in text and "Абай мектебі" not in text  # its region only
    assert "05.11.2026" in text  # the deadline of October: the 5th, a Thursday
    assert "Ждёт молчащий шлюз школы" in text and "gw2" in text  # s2 issued nothing, its gateway silent
    assert "Срок пропущен" in text  # s1 issued but never delivered, past the 5th
    only = get(client, f"/office/regions/almaty/schools?month={MONTH}&state=waiting").text
    assert "Школа № 2" in only and "Школа № 1" not in only
    found = get(client, f"/office/regions/almaty/schools?month={MONTH}&q=1").text
    assert "Школа № 1" in found and "Школа № 2" not in found
    sheet = get(client, f"/office/regions/almaty/schools?month={MONTH}&format=csv&sort=name")
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["s1", "s2"] and rows[2][2] == "Ждёт молчащий шлюз школы"


def test_the_region_opens_a_schools_report_with_names_and_downloads_its_files(
    region: dict[str, Any], client: TestClient
) -> None:
    as_(client, "akimat@almaty.kz")
    page = get(client, "/office/regions/almaty/schools/s1/reports")
    assert page.status_code == 200 and "meals.xlsx" in page.text and "Отчёт о питании" in page.text
    got = get(client, f"/office/regions/almaty/schools/s1/reports/{MONTH}/meals/1/meals.json")
    assert got.status_code == 200 and "Палау" in got.content.decode()  # the dishes named
    assert got.headers["content-disposition"].startswith("attachment")
    # Another region's school is not found at this region's desk, and another region's desk is closed.
    assert get(client, "/office/regions/almaty/schools/s3/reports").status_code == 404
    assert get(client, "/office/regions/abay/schools").status_code == 403
    assert get(client, f"/office/regions/almaty/schools/s1/reports/{MONTH}/meals/9/meals.json").status_code == 404


def test_the_ministry_reads_states_and_sums_but_no_school_report(region: dict[str, Any], client: TestClient) -> None:
    as_(client, "minister@edu.kz")
    states = get(client, f"/office/regions/almaty/schools?month={MONTH}")
    assert states.status_code == 200 and "/schools/s1/reports" not in states.text  # no link to names
    refused = get(client, "/office/regions/almaty/schools/s1/reports")
    assert refused.status_code == 403 and "<html" in refused.text.lower()
    assert get(client, f"/office/regions/almaty/schools/s1/reports/{MONTH}/meals/1/meals.json").status_code == 403
    country = get(client, f"/office/country/regions?month={MONTH}")
    assert country.status_code == 200
    assert "almaty" in country.text and "abay" in country.text and "₸" in country.text
    for child in region["who"].values():
        assert child not in country.text
    assert "Нұрланова" not in country.text
    # A ministry account granted the region reads its schools' reports as the region does.
    as_(client, "analyst@edu.kz")
    assert get(client, "/office/regions/almaty/schools/s1/reports").status_code == 200
    assert get(client, "/office/regions/abay/schools/s3/reports").status_code == 403


def test_the_country_view_is_the_ministrys_only(region: dict[str, Any], client: TestClient) -> None:
    as_(client, "akimat@almaty.kz")
    assert get(client, "/office/country/regions").status_code == 403
    as_(client, "minister@edu.kz")
    sheet = get(client, f"/office/country/regions?month={MONTH}&format=xlsx")
    book = load_workbook(io.BytesIO(sheet.content))
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["abay", "almaty"] and rows[2][1] == 2
    page = get(client, f"/office/country/regions?month={MONTH}").text
    assert f"/office/country/sums/{MONTH}/1/country.xlsx" in page
    issued = get(client, f"/office/country/sums/{MONTH}/1/country.json")
    assert issued.status_code == 200 and issued.headers["content-disposition"].startswith("attachment")
    assert get(client, f"/office/country/sums/{MONTH}/7/country.json").status_code == 404
    as_(client, "akimat@almaty.kz")
    assert get(client, f"/office/country/sums/{MONTH}/1/country.json").status_code == 403


def test_the_sums_are_in_tenge_month_to_month_and_downloadable(region: dict[str, Any], client: TestClient) -> None:
    with region["engine"].connect() as conn:
        sums = month_sums(conn, "almaty", MONTH)
    assert sums is not None and sums.version == 1 and sums.state_tiyn > 0
    as_(client, "akimat@almaty.kz")
    page = get(client, f"/office/regions/almaty/sums?month={MONTH}")
    assert page.status_code == 200
    tenge = f"{sums.state_tiyn // 100:,}".replace(",", "\u00a0") + "\u00a0₸"
    assert tenge in page.text and str(sums.state_tiyn) not in page.text  # tenge, never tiyn
    assert "сентябрь 2026" in page.text and "Двенадцать месяцев" in page.text and 'class="bar-state"' in page.text
    assert "region.xlsx" in page.text
    sheet = get(client, f"/office/regions/almaty/sums?month={MONTH}&format=xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[1][1] == "s1" and rows[1][5] == sums.state_tiyn / 100
    issued = get(client, f"/office/regions/almaty/sums/{MONTH}/1/region.json")
    assert issued.status_code == 200 and b'"kind":"region"' in issued.content.replace(b" ", b"")
    as_(client, "minister@edu.kz")
    assert get(client, f"/office/regions/almaty/sums?month={MONTH}").status_code == 200


@pytest.mark.parametrize(
    ("month", "words"), [("2026-13", "ГГГГ-ММ"), ("20261", "ГГГГ-ММ"), ("2099-01", "ещё не наступил")]
)
def test_a_bad_or_future_month_is_a_clear_error(
    region: dict[str, Any], client: TestClient, month: str, words: str
) -> None:
    as_(client, "akimat@almaty.kz")
    for path in ("/office/regions/almaty/schools", "/office/regions/almaty/sums"):
        page = get(client, f"{path}?month={month}")
        assert page.status_code == 422 and words in page.text


def test_the_service_enforces_who_reads_names(region: dict[str, Any]) -> None:
    engine = region["engine"]
    with engine.connect() as conn:
        minister = account_by_login(conn, "minister@edu.kz")
        ministry = Principal(minister, frozenset({Grant(Role.MINISTRY, None)}))
        authority = Principal(minister, frozenset({Grant(Role.REGION, "almaty")}))
        key = VersionKey("s1", MONTH, "meals", 1)
        with pytest.raises(DomainError, match="names_not_granted"):
            school_reports(conn, ministry, "almaty", "s1")
        with pytest.raises(DomainError, match="names_not_granted"):
            school_file(conn, ministry, "almaty", "s1", key, "meals.json")
        with pytest.raises(DomainError, match="unknown_school"):
            school_file(conn, authority, "almaty", "s3", VersionKey("s3", MONTH, "meals", 1), "meals.json")
        with pytest.raises(DomainError, match="not_found"):  # a school's file asked under another school's key
            school_file(conn, authority, "almaty", "s1", VersionKey("s2", MONTH, "meals", 1), "meals.json")
        assert school_file(conn, authority, "almaty", "s1", key, "meals.json")
        follow = region_month(conn, "almaty", MONTH, check_date(), DeadlinePolicy.NEXT_WORKING_DAY)
        running = datetime.now(UTC).astimezone(LOCAL_TZ).strftime("%Y-%m")
        this_month = region_month(conn, "almaty", running, check_date(), DeadlinePolicy.NEXT_WORKING_DAY)
    # The running month's reports are not due: nobody waits for a gateway yet.
    assert {s.states["meals"] for s in this_month.schools} == {"not_issued"}
    states = {s.school_id: s.states for s in follow.schools}
    assert states == {
        "s1": {"meals": "issued", "attendance": "issued"},
        "s2": {"meals": "waiting", "attendance": "waiting"},
    }


def check_date() -> Any:
    from datetime import date

    return date(2026, 11, 20)


def test_check_month() -> None:
    from datetime import date

    today = date(2026, 12, 5)
    assert check_month("2026-12", today) == "2026-12"
    for bad, code in (
        ("2026-13", "bad_month"),
        ("x", "bad_month"),
        ("1999-01", "bad_month"),
        ("2027-01", "month_in_future"),
    ):
        with pytest.raises(DomainError, match=code):
            check_month(bad, today)


def test_the_office_home_lists_every_desk_of_an_account(region: dict[str, Any], client: TestClient) -> None:
    home = get(as_(client, "analyst@edu.kz"), "/office/").text
    assert "/office/regions/almaty/schools" in home and "/office/country/regions" in home
    assert "/office/deployment/accounts" not in home
    home = get(as_(client, "it@mektep.kz"), "/office/").text
    assert "/office/deployment/accounts" in home and "/office/country/regions" not in home


def test_the_deployment_admin_makes_a_region_account_with_its_letter(
    region: dict[str, Any], client: TestClient
) -> None:
    as_(client, "akimat@almaty.kz")
    assert get(client, "/office/deployment/accounts").status_code == 403
    as_(client, "it@mektep.kz")
    page = get(client, "/office/deployment/accounts")
    assert page.status_code == 200 and "akimat@almaty.kz" in page.text and "almaty" in page.text
    bad = client.post(
        "/office/deployment/accounts",
        data={"login": "not an e-mail", "name": "", "kind": "region", "region": "mars"},
        headers={"Accept-Language": "ru"},
    )
    assert bad.status_code == 422 and 'id="error-summary"' in bad.text and 'id="region-error"' in bad.text
    made = client.post(
        "/office/deployment/accounts",
        data={"login": "Head@Almaty-Edu.kz", "name": "Айгүл Серікова", "kind": "region", "region": "almaty"},
        headers={"Accept-Language": "ru"},
    )
    assert made.status_code == 200 and "head@almaty-edu.kz" in made.text
    engine = region["engine"]
    with engine.connect() as conn:
        account = account_by_login(conn, "head@almaty-edu.kz")
        assert account is not None
        assert roles_in_force(conn, account.id) == {Grant(Role.REGION, "almaty")}
        journal = conn.execute(
            select(audit_log.c.entity, audit_log.c.action).where(audit_log.c.entity_id == str(account.id))
        ).all()
    assert ("account", "create") in [tuple(r) for r in journal]
    again = client.post(
        "/office/deployment/accounts",
        data={"login": "head@almaty-edu.kz", "name": "X", "kind": "ministry", "region": ""},
        headers={"Accept-Language": "ru"},
    )
    assert again.status_code == 422 and 'id="login-error"' in again.text
    # The letter's code lets its owner choose a password, and the account then signs in as a region's.
    code = re.search(r'<code class="big">([^<]+)</code>', made.text)
    assert code is not None
    body = {"account_id": str(account.id), "code": code.group(1), "password": "a long passphrase of hers"}
    assert client.post("/v1/auth/activate", json=body).status_code == 204
    client.cookies.clear()
    home = get(as_(client, "head@almaty-edu.kz", "a long passphrase of hers"), "/office/").text
    assert "/office/regions/almaty/schools" in home


@pytest.mark.parametrize(("language", "heading"), [("kk", "Айдың қорытындысы"), ("en", "Sums of the month")])
def test_the_pages_speak_kazakh_and_english(
    region: dict[str, Any], client: TestClient, language: str, heading: str
) -> None:
    as_(client, "analyst@edu.kz")
    headers = {"Accept-Language": language}
    sums = client.get(f"/office/regions/almaty/sums?month={MONTH}", headers=headers)
    assert sums.status_code == 200 and heading in sums.text and "₸" in sums.text
    for path in (
        "/office/regions/almaty/schools",
        "/office/country/regions",
        "/office/regions/almaty/schools/s1/reports",
    ):
        assert client.get(f"{path}?month={MONTH}", headers=headers).status_code == 200, path


def test_the_deployment_page_reads_only_the_authorities_accounts(region: dict[str, Any], client: TestClient) -> None:
    engine = region["engine"]
    with engine.begin() as conn:
        for i in range(3):  # a school's accounts: not the deployment page's to read
            create_account(conn, f"teacher{i}@s1.kz", actor=SYSTEM, school_id="s1")
    as_(client, "it@mektep.kz")
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        page = get(client, "/office/deployment/accounts")
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert page.status_code == 200
    for login in ("akimat@almaty.kz", "abay@region.kz", "minister@edu.kz", "analyst@edu.kz"):
        assert login in page.text
    assert "teacher0@s1.kz" not in page.text and "it@mektep.kz</" not in page.text
    # The accounts read are chosen by the database (by id, from the grants), never the whole table.
    listed = [s for s in seen if "FROM accounts" in s and "deleted_at IS NULL" in s]
    assert listed and all("accounts.id IN" in s for s in listed)
