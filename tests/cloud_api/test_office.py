"""The school office's pages, as a secretary uses them, over HTTP (in a browser: tests/test_office_browser.py).

Each test signs the school's administrator in (the page's session cookie) and reads what the page
says in Russian: who is found, what a refused form answers, what was stored and what was not.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.db.schema import audit_log, consents, credentials, iin_index, people, school_exports
from cloud_api.services.menus import set_food_bans
from cloud_api.settings import CloudSettings
from shared.roster_contract import DishCategory
from tests.cloud_api.helpers import ADMIN, batch_body, event, signed
from tests.cloud_api.school import CHILD, HEADER, MOTHER, OTHER_CHILD, TEACHER, TEEN, World, iin, seed_world

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_a_secretary_finds_people_by_name_class_iin_and_card",
    "test_a_persons_page_shows_guardians_consent_cards_and_the_month",
    "test_a_lost_card_is_blocked_and_a_new_one_given_in_one_step",
    "test_an_import_is_previewed_and_stores_nothing_until_committed",
    "test_today_counts_who_is_inside_and_who_has_not_arrived",
    "test_the_school_takes_everything_it_has_in_one_archive",
)

CARD_KEY = "school-card-key-shared-with-gateways"
RU = {"Accept-Language": "ru"}


@pytest.fixture
def settings(database_url: str) -> CloudSettings:
    """The conftest's settings with the key that card numbers are hashed with."""
    return CloudSettings(
        database_url=database_url,
        admin_token=ADMIN,
        push_workers=0,
        credential_key=CARD_KEY,
        max_roster_bytes=256 * 1024,  # a small limit, to test an upload over it
    )


@dataclass
class Office:
    """School s1's administrator signed in at the office, in Russian."""

    client: TestClient
    app: FastAPI
    world: World

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/office/schools/s1{path}", params=params, headers=RU, follow_redirects=True)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(f"/office/schools/s1{path}", data=data, headers=RU, follow_redirects=True, **kwargs)

    def id(self, iin_: str) -> UUID:
        return self.world.ids[iin_]


def _signed_in_as(world: World, login: str) -> TestClient:
    token = world.token(login)["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, token)
    return world.client


@pytest.fixture
def office(client: TestClient, app: FastAPI) -> Iterator[Office]:
    world = seed_world(client, app)
    _signed_in_as(world, "head@s1.kz")
    yield Office(client, app, world)


def text_of(html: str) -> str:
    """What a reader sees of a page: its text, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def rows_of(app: FastAPI, table: Any, **where: Any) -> list[Any]:
    with app.state.engine.connect() as conn:
        # The IIN is encrypted: found by its blind index.
        if "iin" in where:
            where["iin_index"] = iin_index(conn, where.pop("iin"))
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return conn.execute(query.order_by(*table.primary_key.columns)).all()


# -- people ----------------------------------------------------------------------------------------


def test_a_secretary_finds_people_by_name_class_iin_and_card(office: Office) -> None:
    everyone = office.get("/people")
    assert everyone.status_code == 200
    assert "Найдено 6 человек" in text_of(everyone.text)
    by_name = text_of(office.get("/people", q="нұрлан").text)
    assert "Нұрланова Әлия" in by_name and "Нұрланова Гүлнар" in by_name and "Иванов" not in by_name
    by_class = text_of(office.get("/people", **{"class": "9а"}).text)
    assert "Иванов Пётр" in by_class and "Нұрланова" not in by_class
    by_iin = text_of(office.get("/people", q=TEEN).text)
    assert "Иванов Пётр" in by_iin
    office.post(f"/people/{office.id(TEEN)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    by_card = text_of(office.get("/people", q=" 0004512345 ").text)  # a desk reader's number, as typed
    assert "Иванов Пётр" in by_card and "Нұрланова" not in by_card
    students = text_of(office.get("/people", role="student", consent="never").text)
    assert "Иванов Пётр" in students and "Сейітов" not in students


def test_the_people_list_downloads_as_csv_and_xlsx(office: Office) -> None:
    answer = office.get("/people", role="student", format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Фамилия", "Имя", "Отчество"]
    assert sorted(row[0] for row in table[1:]) == ["Ахметов", "Иванов", "Нұрланова"]
    book = office.get("/people", format="xlsx")
    assert book.content[:2] == b"PK"  # a zip: the workbook


def test_a_persons_page_shows_guardians_consent_cards_and_the_month(office: Office) -> None:
    with office.app.state.engine.begin() as conn:
        set_food_bans(conn, "s1", office.id(CHILD), office.id(MOTHER), [], [DishCategory.SWEETS], actor="mother")
    page = text_of(office.get(f"/people/{office.id(CHILD)}").text)
    assert "Нұрланова Гүлнар" in page  # the guardian ...
    assert "8 (701) 234-56-78" in page or "+77012345678" in page  # ... with her account's login
    assert "не запрашивалось" in page  # consent never asked
    assert "Карты ещё нет." in page
    assert "Ограничения по видам блюд сладости" in page  # what her guardian forbids
    guardian = text_of(office.get(f"/people/{office.id(MOTHER)}").text)
    assert "Нұрланова Әлия" in guardian and "None" not in guardian  # her children; no class of her own


# -- cards -----------------------------------------------------------------------------------------


def test_a_card_is_given_by_its_number_and_a_used_one_is_refused(office: Office) -> None:
    given = office.post(f"/people/{office.id(CHILD)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    assert given.status_code == 200 and "Карта выдана." in given.text
    assert "…2345" in given.text
    again = office.post(f"/people/{office.id(TEEN)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    assert again.status_code == 422
    assert "Эта карта уже выдана" in text_of(again.text)
    assert 'id="card_number-error"' in again.text and 'value="0004512345"' in again.text  # beside the field, kept
    assert len(rows_of(office.app, credentials)) == 1  # nothing stored for the second
    empty = office.post(f"/people/{office.id(TEEN)}/cards", {"card_number": "  ", "kind": "em4100"})
    assert empty.status_code == 422 and "Введите номер карты" in text_of(empty.text)


def test_a_lost_card_is_blocked_and_a_new_one_given_in_one_step(office: Office) -> None:
    office.post(f"/people/{office.id(CHILD)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    office.post(f"/people/{office.id(TEEN)}/cards", {"card_number": "0009999999", "kind": "em4100"})
    (old,) = rows_of(office.app, credentials, person_id=office.id(CHILD))
    # The new card is someone else's: refused, and the lost one is still as it was.
    taken = office.post(f"/cards/{old.id}/lost", {"card_number": "0009999999"})
    assert taken.status_code == 422 and "Эта карта уже выдана" in text_of(taken.text)
    assert rows_of(office.app, credentials, id=old.id)[0].status == "active"
    done = office.post(f"/cards/{old.id}/lost", {"card_number": "0004577777"})
    assert "Старая карта заблокирована, новая выдана." in done.text
    cards = {c.number_hint: c for c in rows_of(office.app, credentials, person_id=office.id(CHILD))}
    assert cards["2345"].status == "blocked" and cards["2345"].status_reason == "lost"
    assert cards["7777"].status == "active"


def test_blocking_a_card_asks_why_first(office: Office) -> None:
    office.post(f"/people/{office.id(CHILD)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    (card,) = rows_of(office.app, credentials, person_id=office.id(CHILD))
    check = office.get(f"/cards/{card.id}/block")
    assert "Нұрланова Әлия" in text_of(check.text) and "Заблокировать карту" in check.text
    no_reason = office.post(f"/cards/{card.id}/block", {"reason": ""})
    assert no_reason.status_code == 422 and rows_of(office.app, credentials, id=card.id)[0].status == "active"
    office.post(f"/cards/{card.id}/block", {"reason": "stolen"})
    assert rows_of(office.app, credentials, id=card.id)[0].status_reason == "stolen"


# -- consent ---------------------------------------------------------------------------------------


def test_a_paper_consent_is_recorded_journalled_and_shown_to_the_guardian(office: Office) -> None:
    form = {"guardian": str(office.id(MOTHER)), "given": "true", "signed_on": "2026-09-02", "reference": "№ 17/2026"}
    done = office.post(f"/people/{office.id(CHILD)}/consent", form)
    assert "Согласие записано." in done.text
    page = text_of(done.text)
    assert "на бумаге" in page and "№ 17/2026" in page
    (row,) = rows_of(office.app, consents, child_id=office.id(CHILD))
    assert row.source == "paper" and row.reference == "№ 17/2026" and row.given
    (entry,) = rows_of(office.app, audit_log, entity="consent", entity_id=str(office.id(CHILD)))
    assert entry.after["paper"] == "№ 17/2026" and entry.actor == f"account:{office.world.ids['head1']}"
    overview = text_of(office.get("/consent").text)
    assert re.search(r"3Б 1 1 0 0", overview)  # the class: one student, consent given
    table = list(csv.reader(io.StringIO(office.get("/consent", format="csv").content.decode("utf-8-sig"))))
    assert ["3Б", "1", "1", "0", "0"] in table
    # The mother sees in her app that it was given on paper at the school.
    _signed_in_as(office.world, "8 (701) 234-56-78")
    office.client.cookies.set("mektep_lang", "ru")
    app_page = office.client.get(f"/app/children/{office.id(CHILD)}", headers=RU)
    assert "на бумаге" in text_of(app_page.text)


def test_a_consent_is_refused_for_someone_who_is_not_the_guardian(office: Office) -> None:
    bad = {"guardian": str(office.id(MOTHER)), "given": "true", "signed_on": "2026-09-02", "reference": "17"}
    refused = office.post(f"/people/{office.id(OTHER_CHILD)}/consent", bad)
    assert refused.status_code == 422 and "не является законным представителем" in text_of(refused.text)
    # A refusal signed on paper for a child never asked is kept: "withdrawn", not "never asked".
    refusal = {**bad, "given": "false", "signed_on": "03.09.2026"}  # typed as people write dates
    done = office.post(f"/people/{office.id(TEEN)}/consent", refusal)
    assert "Согласие записано." in done.text
    assert [r.given for r in rows_of(office.app, consents, child_id=office.id(TEEN))] == [False]
    future = office.post(f"/people/{office.id(CHILD)}/consent", {**bad, "signed_on": "2099-01-01"})
    assert future.status_code == 422 and "не может быть в будущем" in text_of(future.text)
    assert len(rows_of(office.app, consents)) == 1  # the refusal only


# -- the roster import -----------------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    return out.getvalue().encode("utf-8-sig")


NEW = iin("16040450015")
BAD_IIN = CHILD[:11] + str((int(CHILD[11]) + 1) % 10)


def _preview(office: Office, data: bytes, name: str = "nedb.csv", complete: bool = False) -> Any:
    files = {"file": (name, data, "text/csv")}
    return office.post("/roster/preview", data={"complete": "yes"} if complete else {}, files=files)


def test_an_import_is_previewed_and_stores_nothing_until_committed(office: Office) -> None:
    before = len(rows_of(office.app, people))
    rows = [
        HEADER,
        ["student", NEW, "Серікова", "Айша", "1А", "kk", "", "", "", "", ""],
        ["student", TEEN, "Иванов", "Пётр", "10 А", "ru", "discounted", "50", "", "", ""],  # moved up a class
        ["student", BAD_IIN, "Ахметов", "Дана", "2А", "", "", "", "", "", ""],
        ["student", iin("16040450023"), "Бекова", "", "2А", "", "", "", "", "", ""],  # no first name
    ]
    preview = _preview(office, _csv(rows))
    page = text_of(preview.text)
    assert preview.status_code == 200
    assert "Серікова Айша" in page and "9А → 10А" in page
    assert re.search(r"Строка 4 .*iin", page, re.I) or "4 iin" in page
    assert len(rows_of(office.app, people)) == before  # nothing stored yet
    carried = re.search(r'name="carried" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    done = office.post("/roster/import", {"carried": carried, "name": "nedb.csv", "complete": "no"})
    assert "Список загружен." in done.text
    assert len(rows_of(office.app, people)) == before + 1
    assert rows_of(office.app, people, iin=TEEN)[0].class_name == "10А"
    history = text_of(done.text)
    assert "nedb.csv" in history and "head@s1.kz" in history  # the import's history, with who ran it


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("nedb.pdf", b"%PDF-1.4", "Принимаются только файлы .csv или .xlsx"),
        ("nedb.csv", b"", "Файл пуст"),
    ],
)
def test_a_file_that_is_not_a_roster_is_refused_on_the_page(
    office: Office, name: str, data: bytes, message: str
) -> None:
    answer = _preview(office, data, name)
    assert answer.status_code == 422
    assert message in text_of(answer.text)


def test_another_schools_file_is_recognised_before_anything_is_stored(office: Office) -> None:
    from sqlalchemy import insert

    with office.app.state.engine.begin() as conn:  # a school of its size: 30 students
        base = {k: v for k, v in rows_of(office.app, people, iin=CHILD)[0]._mapping.items() if k != "iin_index"}
        conn.execute(
            insert(people),
            [{**base, "id": UUID(int=i + 1), "iin": iin(f"1603195{i:04d}")} for i in range(30)],
        )
    stranger = [HEADER, ["student", NEW, "Серікова", "Айша", "1А", "kk", "", "", "", "", ""]]
    answer = _preview(office, _csv(stranger))
    assert "другой школы" in text_of(answer.text)
    assert 'name="carried"' not in answer.text  # no way to import it from here


# -- the journal, today, access --------------------------------------------------------------------


def test_the_journal_of_a_student_says_each_change_in_words(office: Office) -> None:
    office.post(f"/people/{office.id(CHILD)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    (card,) = rows_of(office.app, credentials, person_id=office.id(CHILD))
    office.post(f"/cards/{card.id}/block", {"reason": "lost"})
    page = text_of(office.get("/journal", person=str(office.id(CHILD))).text)
    by_login = text_of(office.get("/journal", who=" HEAD@S1.KZ ").text)  # as typed: any case, spaces
    assert "Причина: потеряна" in by_login
    nobody = text_of(office.get("/journal", person=str(UUID(int=7))).text)  # not a person of the school
    assert "Причина" not in nobody
    assert "Нұрланова Әлия" in page
    assert "Состояние: действует → заблокирована" in page and "Причина: потеряна" in page
    assert "head@s1.kz" in page
    assert "{" not in page.split("Журнал")[-1]  # no JSON
    wrong = office.get("/journal", **{"from": "2026-12-31", "to": "2026-01-01"})
    assert wrong.status_code == 422 and "раньше его начала" in text_of(wrong.text)


def _lunch(category: str) -> dict[str, Any]:
    return {
        "period": "lunch",
        "category": category,
        "dishes": ["Плов"],
        "price_tiyn": 0 if category == "free" else 70000,
    }


def test_today_counts_who_is_inside_and_who_has_not_arrived(office: Office) -> None:
    from cloud_api.services.consent import set_consent

    with office.app.state.engine.begin() as conn:
        for child in (CHILD, TEEN):
            set_consent(conn, "s1", office.id(child), office.id(MOTHER), True, actor="mother")
    from datetime import datetime, timedelta

    from shared.localtime import LOCAL_TZ

    # The taps of the last half hour, but never of yesterday: just after local midnight they are
    # squeezed into the minutes of today (a new day starts with nobody inside).
    now = datetime.now(LOCAL_TZ)
    since = min(timedelta(minutes=30), now - now.replace(hour=0, minute=0, second=0, microsecond=0))
    at = lambda minutes: (now - since * minutes / 30).isoformat()  # noqa: E731
    batch = [
        event(1, at=at(30), person_id=str(office.id(CHILD))),
        event(2, at=at(20), person_id=str(office.id(TEACHER))),
        event(3, at=at(10), person_id=str(office.id(TEACHER)), kind="exit"),
        event(4, at=at(5), person_id=None),  # a child without consent: counted, never named
        event(5, at=at(4), person_id=None, kind="exit"),  # and out again: an exit is not an entry
        event(6, at=at(3), kind="meal", person_id=str(office.id(CHILD)), meal=_lunch("free")),
        event(7, at=at(2), kind="meal", person_id=str(office.id(TEEN)), meal=_lunch("paid")),
    ]
    body = batch_body(batch)
    assert office.client.post("/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200
    page = text_of(office.get("/today").text)
    inside = page.split("Сейчас в здании")[-1].split("Не пришли")[0]
    assert "Нұрланова Әлия" in inside and "Сейітов" not in inside  # the teacher has left
    assert "Иванов Пётр" in page.split("Не пришли")[-1]  # consent, no entry
    roll_call = office.get("/today", format="csv").content.decode("utf-8-sig")
    assert "Нұрланова Әлия" in roll_call and "Сейітов" not in roll_call and "Иванов" not in roll_call
    assert re.search(r"1 Входы без согласия", page)
    assert re.search(r"обед 2 1 3", page)  # lunch: two served, one of them free; three pupils eligible


def test_canteen_staff_see_today_but_not_the_people(office: Office) -> None:
    _signed_in_as(office.world, "cook@s1.kz")
    assert office.get("/today").status_code == 200
    refused = office.get("/people")
    assert refused.status_code == 403 and "<html" in refused.text  # a page, not JSON
    assert office.client.get("/office/schools/s2/today", headers=RU).status_code == 403


def test_accounts_are_disabled_after_a_check_and_failed_sign_ins_are_listed(office: Office) -> None:
    office.client.post("/v1/auth/sign-in", json={"login": "father@mail.kz", "password": "wrong one"})
    father = office.world.ids["father"]
    page = text_of(office.get("/accounts", state="all").text)
    assert "father@mail.kz" in page and "Неудачные входы" in page
    listed = office.get("/accounts", state="all", format="xlsx")
    assert listed.content[:2] == b"PK"
    check = text_of(office.get(f"/accounts/{father}/disable").text)
    assert "father@mail.kz" in check
    done = office.post(f"/accounts/{father}/disable")
    assert "Учётная запись отключена." in done.text
    code = office.post(f"/accounts/{office.world.ids['mother']}/reset-code")
    assert re.search(r"<code class=\"big\">[A-Z0-9]{4}-[A-Z0-9]{4}</code>", code.text)


# -- the export ------------------------------------------------------------------------------------


def test_the_school_takes_everything_it_has_in_one_archive(office: Office) -> None:
    import json
    import time
    import zipfile

    import jsonschema_rs

    office.post(f"/people/{office.id(CHILD)}/cards", {"card_number": "0004512345", "kind": "em4100"})
    asked = office.post("/export")
    assert asked.status_code == 200
    office.post("/export")  # a second click while it is made: still one archive
    for _ in range(100):  # the background worker makes it; the page shows its progress meanwhile
        page = office.get("/export")
        if "/archive.zip" in page.text:
            break
        time.sleep(0.1)
    link = re.search(r'href="(/office/schools/s1/export/[^"]+/archive.zip)"', page.text).group(1)  # type: ignore[union-attr]
    archive = zipfile.ZipFile(io.BytesIO(office.client.get(link).content))
    manifest = json.loads(archive.read("manifest.json"))
    schema = json.loads(archive.read("schema.json"))
    assert manifest["school_id"] == "s1"
    for name, about in manifest["files"].items():
        lines = archive.read(name).decode().splitlines()
        assert len(lines) == about["records"]
        check = jsonschema_rs.validator_for({**schema, "$ref": f"#/$defs/{name.removesuffix('.jsonl')}"})
        for line in lines:
            check.validate(json.loads(line))
    people_ = [json.loads(line) for line in archive.read("people.jsonl").decode().splitlines()]
    assert {p["iin"] for p in people_} >= {CHILD, TEEN, MOTHER, TEACHER}
    assert manifest["files"]["cards.jsonl"]["records"] == 1
    assert manifest["files"]["accounts.jsonl"]["records"] >= 3
    everything = b"".join(archive.read(name) for name in archive.namelist())
    from shared.contract import credential_hash

    card_hash = credential_hash(CARD_KEY.encode(), "0004512345").encode()
    assert b"$argon2" not in everything and b'"password_hash"' not in everything and card_hash not in everything
    assert len(rows_of(office.app, school_exports)) == 1
    journal = {(e.action, e.entity) for e in rows_of(office.app, audit_log, school_id="s1")}
    assert {("create", "export"), ("use", "export")} <= journal  # asked for and taken: both journalled
    s2_child = next(iter(rows_of(office.app, people, school_id="s2"))).iin
    assert s2_child.encode() not in everything  # another school's people are not in it


# -- the canteen and staff accounts ----------------------------------------------------------------


def test_a_cook_sees_the_days_meals_and_sets_her_own_pin(office: Office) -> None:
    from cloud_api.services.canteen_pins import pins_of
    from tests.cloud_api.school import serve_lunch_today

    with office.app.state.engine.begin() as conn:
        serve_lunch_today(conn, "s1")
    from datetime import UTC, datetime

    meal = {"period": "lunch", "category": "free", "dishes": ["Плов"], "price_tiyn": 0}
    body = batch_body(
        [
            event(
                1,
                at=datetime.now(UTC).astimezone().isoformat(),
                kind="meal",
                person_id=str(office.id(CHILD)),
                meal=meal,
            )
        ]
    )
    assert office.client.post("/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200
    _signed_in_as(office.world, "cook@s1.kz")
    page = text_of(office.get("/canteen").text)
    assert "Плов" in page and "Нұрланова Әлия" in page.split("Кто сегодня поел")[-1]
    differ = office.post("/canteen/pin", {"pin": "4821", "pin_again": "4812"})
    assert differ.status_code == 422 and "PIN" in text_of(differ.text)
    short = office.post("/canteen/pin", {"pin": "12", "pin_again": "12"})
    assert short.status_code == 422
    with office.app.state.engine.connect() as conn:
        assert pins_of(conn, "s1") == {}
    saved = office.post("/canteen/pin", {"pin": "4821", "pin_again": "4821"})
    assert saved.status_code == 200 and "PIN-код сохранён" in text_of(saved.text)
    with office.app.state.engine.connect() as conn:
        assert list(pins_of(conn, "s1")) == [office.id(TEACHER)]


def test_a_staff_account_is_made_with_its_role_and_a_letter(office: Office) -> None:
    from cloud_api.services.accounts import Role, account_by_login, roles_in_force

    bad = office.post("/accounts/staff", {"login": "not a login", "role": "canteen_staff"})
    assert bad.status_code == 422 and 'id="login-error"' in bad.text
    no_role = office.post("/accounts/staff", {"login": "cook3@s1.kz", "role": ""})
    assert no_role.status_code == 422 and 'id="role-error"' in no_role.text
    made = office.post("/accounts/staff", {"login": "cook3@s1.kz", "role": "canteen_staff"})
    assert made.status_code == 200
    assert re.search(r"<code class=\"big\">[A-Z0-9]{4}-[A-Z0-9]{4}</code>", made.text)
    with office.app.state.engine.connect() as conn:
        account = account_by_login(conn, "cook3@s1.kz")
        assert account is not None and account.school_id == "s1"
        assert {(g.role, g.scope) for g in roles_in_force(conn, account.id)} == {(Role.CANTEEN_STAFF, "s1")}
    taken = office.post("/accounts/staff", {"login": "cook3@s1.kz", "role": "school_admin"})
    assert taken.status_code == 422
    # Only an active staff member of the roster without an account may be linked, whatever a form sends.
    for person in (str(office.id(MOTHER)), str(office.id(TEACHER)), "not-an-id"):  # a guardian; has one; junk
        linked = office.post("/accounts/staff", {"login": "cook4@s1.kz", "role": "canteen_staff", "person": person})
        assert linked.status_code == 422 and 'id="person-error"' in linked.text, person


def test_a_broken_or_oversized_upload_gets_a_page_not_a_crash(office: Office, settings: CloudSettings) -> None:
    broken = office.client.post(
        "/office/schools/s1/roster/preview",
        content=b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end',
        headers={**RU, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 422 and "<html" in broken.text
    huge = _preview(office, b"role;iin\n" + b"student;1\n" * (settings.max_roster_bytes // 10 + 1))
    assert huge.status_code == 422 and 'id="file-error"' in huge.text
    nothing = office.post("/roster/preview", data={"complete": "yes"})
    assert nothing.status_code == 422 and 'id="file-error"' in nothing.text


def test_the_language_switch_keeps_the_choice_and_goes_back_to_the_same_page(office: Office) -> None:
    back = "/office/schools/s1/people?role=student"
    switched = office.client.get("/office/language", params={"to": "kk", "back": back}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == back
    page = office.client.get(back)  # no Accept-Language: the cookie decides
    assert '<html lang="kk">' in page.text and "Адамдар" in page.text
    for elsewhere in ("https://evil.example/", "//evil.example/office/", "/office/../app/", "/app/"):
        away = office.client.get("/office/language", params={"to": "ru", "back": elsewhere}, follow_redirects=False)
        assert away.headers["location"] == "/office/", elsewhere


def test_a_big_previewed_file_is_imported_and_another_schools_is_refused_even_when_posted_again(
    office: Office, settings: CloudSettings
) -> None:
    import base64
    import os
    import zlib

    from sqlalchemy import insert

    office.app.state.settings = settings.model_copy(update={"max_roster_bytes": 4 * 1024 * 1024})
    # A file whose carried form is over a form field's default bound of 1 MiB (as an XLSX's would be:
    # it does not shrink); its rows of noise are refused, the good one is imported.
    rows = [HEADER, ["student", NEW, "Серікова", "Айша", "1А", "kk", "", "", "", "", ""]]
    noise = [["student", base64.b64encode(os.urandom(66)).decode()] for _ in range(15_000)]
    data = _csv(rows + noise)
    carried = base64.b64encode(zlib.compress(data)).decode()
    assert len(carried) > 1024 * 1024
    big = office.post("/roster/import", {"carried": carried, "name": "nedb.csv", "complete": "no"})
    assert big.status_code == 200 and "Список загружен." in big.text
    assert rows_of(office.app, people, iin=NEW)
    with office.app.state.engine.begin() as conn:
        base = {k: v for k, v in rows_of(office.app, people, iin=CHILD)[0]._mapping.items() if k != "iin_index"}
        conn.execute(
            insert(people), [{**base, "id": UUID(int=i + 1), "iin": iin(f"1603195{i:04d}")} for i in range(30)]
        )
    stranger = [HEADER, ["student", iin("17040450015"), "Жаңа", "Оқушы", "1А", "kk", "", "", "", "", ""]]
    before = len(rows_of(office.app, people))
    again = office.post(
        "/roster/import",
        {"carried": base64.b64encode(zlib.compress(_csv(stranger))).decode(), "name": "nedb.csv", "complete": "yes"},
    )
    assert again.status_code == 422 and "другой школы" in text_of(again.text)
    assert len(rows_of(office.app, people)) == before
    assert all(p.active for p in rows_of(office.app, people, school_id="s1"))


def test_a_silent_gateway_is_news_in_school_hours_only() -> None:
    from datetime import datetime, timedelta

    from cloud_api.web.office.today import silent_gateways
    from shared.localtime import LOCAL_TZ

    monday_morning = datetime(2026, 12, 7, 9, 30, tzinfo=LOCAL_TZ)
    delivered = {"gw1": monday_morning - timedelta(minutes=25), "gw2": monday_morning - timedelta(minutes=2)}
    # gw3 died overnight: registered, nothing today at all.
    assert silent_gateways(["gw1", "gw2", "gw3"], delivered, monday_morning) == {"gw1": 25, "gw3": None}
    evening = monday_morning.replace(hour=21)
    assert silent_gateways(["gw1", "gw2", "gw3"], delivered, evening) == {}
    sunday = datetime(2026, 12, 6, 9, 30, tzinfo=LOCAL_TZ)
    assert silent_gateways(["gw1"], {}, sunday) == {}
