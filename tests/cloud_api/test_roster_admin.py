"""The school administrator's roster over the API, as the administrator would check it, on SQLite and PostgreSQL.

Upload the NEDB export (CSV, XLSX), see what was refused and why, find people (canteen staff
without IIN), give out, block and replace cards and see them in the gateway's roster delta, read
the audit journal; and the first administrator of a deployment made with ``mektep cloud admin-add``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from cloud_api.api.schemas.roster import CardKind
from cloud_api.cli import app as cloud_cli
from cloud_api.db.schema import iin_indexes, people
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.roster_sync import build_delta
from cloud_api.settings import CloudSettings
from shared.contract import credential_hash
from shared.i18n import translator
from tests.cloud_api.helpers import ADMIN, admin, sign_in
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN
from tests.cloud_api.workbooks import SHEET, lying_about_size, sheet_xml, workbook

PASSWORD = "correct horse battery"
CARD_KEY = "school-card-key-shared-with-gateways"
MAX_UPLOAD = 64 * 1024
BAD_IIN = CHILD[:11] + str((int(CHILD[11]) + 1) % 10)
BAD_ROW = ["student", BAD_IIN, "Ахметов", "Дана", "2А", "", "", "", "", "", ""]
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def settings(database_url: str) -> CloudSettings:
    """The conftest's settings with the card key, and a small upload limit to test against."""
    return CloudSettings(
        database_url=database_url, admin_token=ADMIN, credential_key=CARD_KEY, max_roster_bytes=MAX_UPLOAD
    )


def csv_bytes(rows: list[list[str]], separator: str = ";") -> bytes:
    """The rows as Excel saves "CSV UTF-8": a BOM, and a cell holding the separator quoted."""
    out = io.StringIO()
    csv.writer(out, delimiter=separator).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class School:
    """School s1 with its administrator and canteen cook signed in, s2 with its own cook."""

    client: TestClient
    app: FastAPI
    head: dict[str, str]
    cook: dict[str, str]
    cook2: dict[str, str]
    head_id: UUID

    def upload(self, content: bytes, name: str = "nedb.csv", kind: str = CSV, **headers: str) -> Response:
        """POST the file as a browser form would, as the school's administrator unless headers say otherwise."""
        files = {"file": (name, content, kind)}
        return self.client.post("/v1/schools/s1/roster/import", files=files, headers={**self.head, **headers})

    def person(self, iin: str) -> UUID:
        with self.app.state.engine.connect() as conn:
            return conn.execute(select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, iin)))).scalar_one()  # type: ignore[no-any-return]

    def sign_in(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        return sign_in(self.client, login, password)

    def guardian(self) -> dict[str, str]:
        """The mother of CHILD and TEEN (imported already), signed in."""
        with self.app.state.engine.begin() as conn:
            account = create_account(
                conn, "mother@mail.kz", actor=SYSTEM, password=PASSWORD, school_id="s1", person_id=self.person(MOTHER)
            )
            grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
        return self.sign_in("mother@mail.kz")


@pytest.fixture
def school(client: TestClient, app: FastAPI) -> School:
    with app.state.engine.begin() as conn:
        ids = {}
        staff = [
            ("head@s1.kz", "s1", Role.SCHOOL_ADMIN),
            ("cook@s1.kz", "s1", Role.CANTEEN_STAFF),
            ("cook@s2.kz", "s2", Role.CANTEEN_STAFF),
        ]
        for login, school_id, role in staff:
            account = create_account(conn, login, actor=SYSTEM, password=PASSWORD, school_id=school_id)
            grant_role(conn, account.id, role, school_id, actor=SYSTEM)
            ids[login] = account.id
    s = School(client, app, {}, {}, {}, ids["head@s1.kz"])
    s.head, s.cook, s.cook2 = s.sign_in("head@s1.kz"), s.sign_in("cook@s1.kz"), s.sign_in("cook@s2.kz")
    return s


# -- uploading the NEDB export ---------------------------------------------------------------------


def test_a_csv_upload_stores_the_good_rows_names_the_bad_ones_and_again_changes_nothing(school: School) -> None:
    export = csv_bytes([HEADER, *GOOD, BAD_ROW])
    r = school.upload(export, **{"Accept-Language": "ru-RU,ru;q=0.9"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"], result["unchanged"], result["version"]) == (4, 0, 0, 1)
    assert result["refused"] == [
        {
            "row": 6,
            "column": "iin",
            "code": "iin_bad_check_digit",
            "message": "неверная контрольная цифра ИИН",
            "value": BAD_IIN,
        },
    ]
    listed = school.client.get("/v1/schools/s1/people", headers=school.head).json()
    assert {p["iin"] for p in listed["items"]} == {CHILD, TEEN, MOTHER, TEACHER} and listed["total"] == 4

    journal = school.client.get("/v1/schools/s1/audit", headers=school.head, params={"limit": 1000}).json()["items"]
    again = school.upload(export).json()
    assert (again["created"], again["updated"], again["unchanged"], again["version"]) == (0, 0, 4, 1)
    assert (
        school.client.get("/v1/schools/s1/audit", headers=school.head, params={"limit": 1000}).json()["items"]
        == journal
    )  # nothing moved, so nothing journalled
    # the upload's changes are the signed-in administrator's
    roster = [e for e in journal if e["entity"] in ("person", "guardianship")]
    assert len(roster) == 6  # four people, the mother's two children
    assert {(e["actor"], e["actor_login"]) for e in roster} == {(f"account:{school.head_id}", "head@s1.kz")}
    # the refused row is counted for the operators
    metrics = school.client.get("/metrics").text
    assert 'mektep_roster_rows_refused_total{code="iin_bad_check_digit"}' in metrics


def test_a_complete_upload_marks_who_it_leaves_out_as_gone(school: School) -> None:
    assert school.upload(csv_bytes([HEADER, *GOOD])).status_code == 200
    stayed = [row for row in GOOD if row[1] != TEEN]
    export = {"file": ("nedb.csv", csv_bytes([HEADER, *stayed]), CSV)}
    url = "/v1/schools/s1/roster/import?complete=true"
    r = school.client.post(url, files=export, headers=school.head)
    assert r.status_code == 200, r.text
    assert (r.json()["left"], r.json()["departures_held"], r.json()["version"]) == (1, False, 2)
    listed = school.client.get("/v1/schools/s1/people", headers=school.head, params={"q": TEEN}).json()["items"]
    assert [p["active"] for p in listed] == [False]


def test_an_xlsx_upload_creates_people_even_with_iins_typed_as_numbers(school: School) -> None:
    rows: list[list[Any]] = [HEADER, *GOOD]
    rows[1] = [*GOOD[0][:1], int(CHILD), *GOOD[0][2:]]  # Excel keeps a typed IIN as a number
    r = school.upload(xlsx_bytes(rows), name="Сынып тізімі.XLSX", kind=XLSX)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["refused"]) == (4, [])
    child = school.client.get("/v1/schools/s1/people", headers=school.head, params={"q": CHILD}).json()["items"]
    assert [(p["iin"], p["class_name"], p["meal_category"]) for p in child] == [(CHILD, "3Б", "free")]
    # the same people, whichever format comes next: nothing changes
    again = school.upload(csv_bytes([HEADER, *GOOD], separator=",")).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)


def test_a_file_unusable_as_a_whole_is_refused_with_a_coded_translated_reason(school: School) -> None:
    def refusal(r: Response) -> tuple[int, str]:
        return r.status_code, r.json()["detail"]["code"]

    missing = school.upload(csv_bytes([["role", "IIN", "Фамилия"], ["student", CHILD, "Нұрланова"]]))
    assert refusal(missing) == (422, "missing_columns")
    detail = missing.json()["detail"]
    assert detail["message"] == "файлда міндетті бағандар жоқ"  # Kazakh when the browser asks for none
    assert [e["field"] for e in detail["errors"]] == ["first_name"]
    assert refusal(school.upload(b"%PDF-1.7 ...", name="roster.pdf", kind="application/pdf")) == (
        415,
        "unsupported_file_type",
    )
    assert refusal(school.upload(b"PK\x03\x04 not really a workbook", name="roster.xlsx", kind=XLSX)) == (
        422,
        "unreadable_xlsx",
    )
    assert refusal(school.upload("роль;ИИН".encode("cp1251"), name="win.csv")) == (422, "not_utf8")
    assert refusal(school.upload(b"", name="empty.csv")) == (422, "empty_file")
    big = csv_bytes([HEADER, *GOOD]) + b"\n" * (MAX_UPLOAD + 1)
    too_big = school.upload(big, **{"Accept-Language": "en"})
    assert refusal(too_big) == (413, "file_too_large")
    assert too_big.json()["detail"]["message"] == "the file is too large"
    raw = school.client.post(
        "/v1/schools/s1/roster/import", content=csv_bytes([HEADER, *GOOD]), headers={**school.head, "Content-Type": CSV}
    )
    assert refusal(raw) == (415, "multipart_required")
    no_file = school.client.post(
        "/v1/schools/s1/roster/import", data={"note": "x"}, files={"other": ("a.csv", b"")}, headers=school.head
    )
    assert refusal(no_file) == (422, "file_required")
    with school.app.state.engine.connect() as conn:
        assert conn.execute(select(people.c.id)).first() is None  # nothing of any of them was stored
    assert 'mektep_roster_files_refused_total{code="file_too_large"}' in school.client.get("/metrics").text


def test_a_hostile_workbook_is_refused_with_its_reason_and_nothing_of_it_is_stored(school: School) -> None:
    sheet = sheet_xml([HEADER, *GOOD])
    entities = '<!DOCTYPE lol [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    hostile = {
        # good rows first, then one numbered 20,000,000: none of the good ones is kept either
        "too_many_rows": workbook(sheet_xml([HEADER, *GOOD], numbers=[1, 2, 3, 4, 20_000_000])),
        "too_many_columns": workbook(sheet_xml([HEADER, *GOOD], dimension="A1:ZZ5")),
        "xlsx_damaged": lying_about_size(workbook(sheet), SHEET, 100),
        "xlsx_dtd": workbook(sheet_xml([HEADER, *GOOD], prolog=entities).replace("Нұрланова", "&b;", 1)),
        "xlsx_broken_xml": workbook(sheet[:-30]),
        "xlsx_no_workbook": workbook(sheet, **{"[Content_Types].xml": None}),
        "xlsx_too_large": workbook(sheet, **{"xl/media/filler.xml": "<a>" + " " * 5_000_000 + "</a>"}),
        "unreadable_xlsx": b"role;iin\nstudent;" + CHILD.encode(),  # a CSV named .xlsx
    }
    _ = translator("ru")
    for code, content in hostile.items():
        r = school.upload(content, name="roster.xlsx", kind=XLSX, **{"Accept-Language": "ru"})
        assert (r.status_code, r.json()["detail"]["code"]) == (422, code), r.text
        assert r.json()["detail"]["message"] == _(code) != code  # said in Russian
    with school.app.state.engine.connect() as conn:
        assert conn.execute(select(people.c.id)).first() is None
    metrics = school.client.get("/metrics").text
    for code in hostile:
        assert f'mektep_roster_files_refused_total{{code="{code}"}}' in metrics
    # the same export, whole, is imported
    r = school.upload(workbook(sheet), name="roster.xlsx", kind=XLSX)
    assert (r.status_code, r.json()["created"]) == (200, 4)


def test_only_the_schools_administrator_uploads(school: School) -> None:
    export = csv_bytes([HEADER, *GOOD])
    assert school.upload(export, Authorization=school.cook["Authorization"]).status_code == 403
    refused = school.client.post(
        "/v1/schools/s2/roster/import",
        files={"file": ("a.csv", export, CSV)},
        headers={**school.head, "Accept-Language": "ru"},
    )
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "not_allowed"
    assert refused.json()["detail"]["message"] == "у вас нет прав на это действие"
    assert school.upload(export, Authorization=f"Bearer {ADMIN}").status_code == 200  # the system may
    assert school.upload(export, Authorization=school.guardian()["Authorization"]).status_code == 403


# -- finding people --------------------------------------------------------------------------------


def test_canteen_staff_see_people_without_iin_or_contacts_and_guardians_see_nothing(school: School) -> None:
    assert school.upload(csv_bytes([HEADER, *GOOD])).status_code == 200
    path = "/v1/schools/s1/people"
    mine = school.client.get(path, headers=school.head, params={"role": "guardian"}).json()["items"]
    assert [(p["iin"], p["phone"]) for p in mine] == [(MOTHER, "+77012345678")] and "email" in mine[0]
    cooks = school.client.get(path, headers=school.cook).json()
    assert cooks["total"] == 3  # the students and the teacher: guardians are not the canteen's business
    for person in cooks["items"]:
        assert not {"iin", "phone", "email"} & set(person), person  # absent, not null
    assert CHILD not in school.client.get(path, headers=school.cook).text
    assert school.client.get(path, headers=school.cook, params={"role": "guardian"}).json()["items"] == []
    # staff find by class or by a part of a name in any case; only the administrator by IIN
    by_class = school.client.get(path, headers=school.cook, params={"class": "3б"}).json()["items"]
    assert [p["first_name"] for p in by_class] == ["Әлия"]
    by_name = school.client.get(path, headers=school.head, params={"q": "НҰРЛАН"}).json()["items"]
    assert sorted(p["first_name"] for p in by_name) == ["Гүлнар", "Әлия"]
    by_part = school.client.get(path, headers=school.cook, params={"q": "пЁт"}).json()["items"]
    assert [p["first_name"] for p in by_part] == ["Пётр"]
    assert school.client.get(path, headers=school.cook, params={"q": TEEN}).json()["total"] == 0
    assert school.client.get(path, headers=school.head, params={"q": TEEN}).json()["items"][0]["iin"] == TEEN
    # pages: students by class, then the others; the total counts all of them
    first = school.client.get(path, headers=school.head, params={"limit": 2}).json()
    rest = school.client.get(path, headers=school.head, params={"limit": 2, "offset": 2}).json()
    assert [p["class_name"] for p in first["items"]] == ["3Б", "9А"] and first["total"] == rest["total"] == 4
    assert {p["iin"] for p in first["items"] + rest["items"]} == {CHILD, TEEN, MOTHER, TEACHER}
    # a guardian, even of these children, and another school's staff: 403
    assert school.client.get(path, headers=school.guardian()).status_code == 403
    assert school.client.get(path, headers=school.cook2).status_code == 403
    assert school.client.get(path, headers={"Authorization": "Bearer nobody"}).status_code == 401


# -- cards -----------------------------------------------------------------------------------------


def _delta_cards(school: School, since: int = 0) -> dict[str, tuple[UUID, bool]]:
    with school.app.state.engine.connect() as conn:
        delta = build_delta(conn, "s1", since)
    return {c.credential_hash: (c.person_id, c.blocked) for c in delta.credentials}


def test_cards_are_given_blocked_and_replaced_and_the_gateways_roster_follows(school: School) -> None:
    school.upload(csv_bytes([HEADER, *GOOD]))
    child, teen = school.person(CHILD), school.person(TEEN)
    cards = f"/v1/schools/s1/people/{child}/cards"
    given = school.client.post(cards, headers=school.head, json={"kind": "em4100", "card_number": "0a1b2c3d4e"})
    assert given.status_code == 201, given.text
    card = given.json()
    assert (card["status"], card["kind"], card["person_id"]) == ("active", "em4100", str(child))
    # the cloud keeps the keyed hash only, the gateway's way (number normalised to upper case)
    first_hash = credential_hash(CARD_KEY.encode(), "0A1B2C3D4E")
    assert _delta_cards(school) == {first_hash: (child, False)}
    listed = school.client.get(cards, headers=school.cook).json()  # staff may look
    # the card's last four digits tell it apart; never its number or hash
    assert [set(c) for c in listed] == [
        {"id", "person_id", "kind", "status", "number_hint", "status_reason", "updated_at"}
    ]
    assert listed[0]["number_hint"] == "3D4E"
    assert first_hash not in school.client.get(cards, headers=school.head).text

    taken = school.client.post(
        f"/v1/schools/s1/people/{teen}/cards",
        headers={**school.head, "Accept-Language": "ru"},
        json={"kind": "em4100", "card_number": "0A1B2C3D4E"},
    )
    assert taken.status_code == 409 and taken.json()["detail"] == {
        "code": "card_already_assigned",
        "message": "эта карта уже выдана другому человеку",
    }

    with school.app.state.engine.connect() as conn:
        held = build_delta(conn, "s1", 0).version
    blocked = school.client.post(f"/v1/schools/s1/cards/{card['id']}/block", headers=school.head)
    assert (blocked.status_code, blocked.json()["status"]) == (200, "blocked")
    assert _delta_cards(school, since=held) == {first_hash: (child, True)}  # a gateway's next pull: refused
    again = school.client.post(f"/v1/schools/s1/cards/{card['id']}/block", headers=school.head)
    assert (again.status_code, again.json()["detail"]["code"]) == (409, "card_not_active")

    teen_card = school.client.post(
        f"/v1/schools/s1/people/{teen}/cards", headers=school.head, json={"kind": "qr", "card_number": "QR-TEEN-1"}
    ).json()
    new = school.client.post(
        f"/v1/schools/s1/cards/{teen_card['id']}/replace", headers=school.head, json={"card_number": "QR-TEEN-2"}
    )
    assert new.status_code == 201 and (new.json()["status"], new.json()["kind"]) == ("active", "qr")
    assert new.json()["id"] != teen_card["id"]
    teen_cards = school.client.get(f"/v1/schools/s1/people/{teen}/cards", headers=school.head).json()
    assert [(c["id"], c["status"]) for c in teen_cards] == [(new.json()["id"], "active"), (teen_card["id"], "replaced")]
    assert _delta_cards(school) == {
        first_hash: (child, True),
        credential_hash(CARD_KEY.encode(), "QR-TEEN-1"): (teen, True),
        credential_hash(CARD_KEY.encode(), "QR-TEEN-2"): (teen, False),
    }
    # a replacement whose new card is someone else's changes nothing at all
    clash = school.client.post(
        f"/v1/schools/s1/cards/{new.json()['id']}/replace", headers=school.head, json={"card_number": "0a1b2c3d4e"}
    )
    assert (clash.status_code, clash.json()["detail"]["code"]) == (409, "card_already_assigned")
    assert school.client.get(f"/v1/schools/s1/people/{teen}/cards", headers=school.head).json() == teen_cards


def test_card_refusals(school: School) -> None:
    school.upload(csv_bytes([HEADER, *GOOD]))
    child, mother = school.person(CHILD), school.person(MOTHER)
    body = {"kind": "em4100", "card_number": "0A1B2C3D4E"}

    def give(person: UUID | str, headers: dict[str, str], json: dict[str, str] = body, school_id: str = "s1") -> Any:
        r = school.client.post(f"/v1/schools/{school_id}/people/{person}/cards", headers=headers, json=json)
        detail = r.json().get("detail")
        return r.status_code, detail["code"] if isinstance(detail, dict) else None

    assert give(child, school.cook) == (403, "not_allowed")  # canteen staff look, they do not give
    assert give(child, school.head, school_id="s2") == (403, "not_allowed")
    assert give("0190b6c2-7f1e-7000-8000-000000000000", school.head) == (404, "unknown_person")
    assert give(mother, school.head) == (409, "not_a_card_holder")  # guardians tap nowhere
    assert give(child, school.head, {"kind": "manual", "card_number": "X"}) == (422, "invalid_request")
    assert give(child, school.head, {"kind": "em4100", "card_number": " "}) == (422, "invalid_request")
    assert {k.value for k in CardKind} == {"em4100", "wiegand", "osdp", "qr", "mqtt_card"}
    unknown = school.client.post("/v1/schools/s1/cards/0190b6c2-7f1e-7000-8000-000000000000/block", headers=school.head)
    assert (unknown.status_code, unknown.json()["detail"]["code"]) == (404, "unknown_card")
    mother_cards = school.client.get(f"/v1/schools/s1/people/{child}/cards", headers=school.guardian())
    assert mother_cards.status_code == 403
    # without the gateways' key the cloud cannot make a hash they would recognise: it says so
    settings = school.app.state.settings
    school.app.state.settings = settings.model_copy(update={"credential_key": SecretStr("")})
    try:
        assert give(child, school.head) == (503, "credential_key_not_set")
    finally:
        school.app.state.settings = settings
    assert give(child, school.head) == (201, None)


# -- the audit journal -----------------------------------------------------------------------------


def test_the_audit_journal_lists_the_changes_newest_first_with_who_made_them(school: School) -> None:
    school.upload(csv_bytes([HEADER, *GOOD]))
    child = school.person(CHILD)
    card = school.client.post(
        f"/v1/schools/s1/people/{child}/cards",
        headers=school.head,
        json={"kind": "em4100", "card_number": "0A1B2C3D4E"},
    ).json()
    school.client.post(f"/v1/schools/s1/cards/{card['id']}/block", headers=school.head)
    moved = [row[:] for row in GOOD]
    moved[0][4] = "4Б"
    school.client.post(
        "/v1/schools/s1/roster/import", files={"file": ("b.csv", csv_bytes([HEADER, *moved]), CSV)}, headers=admin()
    )

    path = "/v1/schools/s1/audit"
    items = school.client.get(path, headers=school.head).json()["items"]
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    newest, blocked, given = items[:3]
    assert (newest["action"], newest["entity"], newest["entity_id"], newest["actor"], newest["actor_login"]) == (
        "update",
        "person",
        str(child),
        SYSTEM,
        None,
    )
    assert (newest["before"], newest["after"]) == ({"class_name": "3Б", "grade": 3}, {"class_name": "4Б", "grade": 4})
    assert (blocked["entity"], blocked["before"], blocked["after"]) == (
        "credential",
        {"status": "active"},
        {"status": "blocked"},
    )
    assert (given["action"], given["entity_id"], given["actor_login"]) == ("create", card["id"], "head@s1.kz")
    assert datetime.fromisoformat(newest["at"]) >= datetime.fromisoformat(given["at"])

    cards = school.client.get(path, headers=school.head, params={"entity": "credential"}).json()["items"]
    assert [c["action"] for c in cards] == ["update", "create"]
    # pages, by the id of the last one seen
    first = school.client.get(path, headers=school.head, params={"limit": 2}).json()
    second = school.client.get(path, headers=school.head, params={"limit": 2, "before": first["next_before"]}).json()
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in items[:4]]
    last = school.client.get(path, headers=school.head, params={"limit": 1000}).json()
    assert last["next_before"] is None and len(last["items"]) == len(items)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert school.client.get(path, headers=school.head, params={"since": future}).json()["items"] == []
    assert school.client.get(path, headers=school.head, params={"since": "2026-11-20T08:00:00"}).status_code == 422
    assert school.client.get(path, headers=school.cook).status_code == 403  # canteen staff: no journal


# -- the first administrator of a deployment -------------------------------------------------------

runner = CliRunner()


def test_admin_add_creates_an_account_that_signs_in_as_the_schools_administrator(
    client: TestClient, database_url: str
) -> None:
    args = ["admin-add", "Head@School-17.kz", "--school", "s1", "--lang", "ru", "--database-url", database_url]
    mismatch = runner.invoke(cloud_cli, args, input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code == 1 and "Пароли не совпадают." in mismatch.output
    short = runner.invoke(cloud_cli, args, input="short\nshort\n")
    assert short.exit_code == 1 and "пароль должен содержать не менее 12 символов" in short.output

    made = runner.invoke(cloud_cli, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "Учётная запись head@school-17.kz создана: администратор школы s1" in made.output
    assert PASSWORD not in made.output  # asked for without echo

    headers = sign_in(client, "head@school-17.kz", PASSWORD)  # the first sign-in enrols the authenticator
    assert client.get("/v1/me", headers=headers).json()["roles"] == [{"role": "school_admin", "scope": "s1"}]
    assert client.get("/v1/schools/s1/people", headers=headers).status_code == 200
    assert client.get("/v1/schools/s2/people", headers=headers).status_code == 403

    taken = runner.invoke(cloud_cli, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert taken.exit_code == 1 and "учётная запись с таким логином уже есть" in taken.output
    scripted = runner.invoke(
        cloud_cli,
        ["admin-add", "+7 701 000 00 00", "--school", "s1", "--password-env", "PW", "--database-url", database_url],
        env={"PW": PASSWORD},
    )
    assert scripted.exit_code == 0, scripted.output
    assert client.get("/v1/me", headers=sign_in(client, "87010000000", PASSWORD)).status_code == 200
