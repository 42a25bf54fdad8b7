"""The NEDB exchange page of the office, over HTTP, with the app's own background worker pulling from the
simulated NEDB over real HTTP (in a browser: tests/test_office_nedb_browser.py).

The administrator asks for a pull now; the worker pulls, applies the good records and refuses a bad
IIN; the page says in Russian when it pulled, at which version, how many records it applied and
refused, names the refused record with its reason, lists the figures sent with the NEDB's refusal
in its own words, and, when the NEDB is silent, since when. Only the school's administrator sees
it. On SQLite and PostgreSQL (the worker's flow on Citus in tests/cloud_api/test_nedb_exchange.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from cloud_api.db.schema import audit_log, people, schools
from cloud_api.nedb.store import enable, link_of, pull_failed
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.settings import CloudSettings
from simulators.nedb import NedbServer
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import iin
from tests.cloud_api.test_nedb_exchange import student
from tests.cloud_api.test_office import CARD_KEY, Office, _signed_in_as, text_of
from tests.cloud_api.test_office import office as office
from tests.cloud_api.test_office_region import as_, get

ON_CITUS: tuple[str, ...] = ()
ORG = "010101500001"
NEW_BOY = iin("16010150035")
REGION_PASSWORD = "correct horse battery"
BAD = NEW_BOY[:11] + str((int(NEW_BOY[11]) + 1) % 10)


@pytest.fixture
def nedb() -> Iterator[NedbServer]:
    with NedbServer() as server:
        yield server


@pytest.fixture
def settings(database_url: str, nedb: NedbServer) -> CloudSettings:
    """The office's settings with the exchange switched on, against the simulator."""
    return CloudSettings(
        database_url=database_url,
        admin_token=ADMIN,
        push_workers=0,
        credential_key=CARD_KEY,
        nedb_url=nedb.url,
        nedb_key=nedb.client_key.decode(),
        nedb_public_key=nedb.public_key_text,
    )


def _wait_for_pull(office: Office, cursor: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with office.app.state.engine.connect() as conn:
            link = link_of(conn, "s1")
        if link is not None and link.cursor == cursor and link.last_pull_at is not None:
            return
        time.sleep(0.05)
    raise AssertionError(f"the worker did not pull up to {cursor}")


def test_pull_now_brings_the_roster_and_the_page_shows_what_was_applied_refused_and_sent(
    office: Office, nedb: NedbServer
) -> None:
    nedb.refuse(lambda r: r.record_id == "meals/total/paid", "inconsistent", "платное питание НОБД не собирает")
    version = nedb.publish(
        ORG,
        [
            {"record_id": "k1", "op": "upsert", "kind": "class", "class_name": "3Б"},
            student("r1", NEW_BOY, "Омаров", "Нұр", "3Б"),
            student("r2", BAD, "Серікова", "Айгерім", "3Б"),
        ],
    )
    before = text_of(office.get("/nedb").text)
    assert "Ваша школа пока не участвует в обмене с НОБД" in before
    assert "/office/schools/s1/roster" in office.get("/nedb").text
    assert "/office/schools/s1/nedb" in office.get("/roster").text  # linked from the roster import
    with office.app.state.engine.begin() as conn:
        enable(conn, "s1", ORG, actor="system", now=datetime.now(UTC) - timedelta(days=70))

    asked = office.post("/nedb/pull")
    assert asked.status_code == 200 and "Список запрошен у НОБД" in text_of(asked.text)
    _wait_for_pull(office, version)
    deadline = time.monotonic() + 20  # the figures go in the same round, after the pull
    while len(nedb.state.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    seen = text_of(office.get("/nedb").text)
    assert "Список из НОБД" in seen and ORG in seen and f"{version} версия НОБД" in seen
    assert "2 применено записей" in seen and "1 отклонено записей" in seen  # the class and the boy; one refused
    assert "Серікова Айгерім 3Б ИИН" in seen and BAD in seen and "Неверная контрольная цифра ИИН" in seen
    assert "Запросить сейчас" in seen
    assert "подтверждено" in seen and "Питание · все классы · платное" in seen
    assert "Показатели противоречат друг другу или списку в НОБД" in seen
    assert "ответ НОБД: «платное питание НОБД не собирает»" in seen
    with office.app.state.engine.connect() as conn:
        boys = [p for p in conn.execute(select(people).where(people.c.school_id == "s1")) if p.iin == NEW_BOY]
        asked_by = conn.execute(select(audit_log.c.actor).where(audit_log.c.entity == "nedb_pull")).scalars().all()
    assert len(boys) == 1 and boys[0].class_name == "3Б"
    assert len(asked_by) == 1 and asked_by[0].startswith("account:")  # who asked is in the journal

    # The NEDB falls silent: the page says since when, and that nothing is lost.
    since = datetime.now(UTC)
    with office.app.state.engine.begin() as conn:
        pull_failed(conn, "s1", "HTTP 503", now=since, retry_at=since + timedelta(minutes=2))
    silent = text_of(office.get("/nedb").text)
    assert "НОБД не отвечает с" in silent and "ничего не потеряно" in silent and "HTTP 503" in silent


def test_in_kazakh_the_page_uses_the_glossary_words(office: Office) -> None:
    with office.app.state.engine.begin() as conn:
        enable(conn, "s1", ORG, actor="system", now=datetime.now(UTC) + timedelta(days=1))  # no pull due yet
    page = office.client.get("/office/schools/s1/nedb", headers={"Accept-Language": "kk"})
    seen = text_of(page.text)
    assert "ҰБДҚ-мен алмасу" in seen and "Қазір сұрау" in seen and "NEDB" not in seen


def test_only_the_school_administrator_sees_the_exchange(office: Office) -> None:
    _signed_in_as(office.world, "cook@s1.kz")
    assert office.get("/nedb").status_code == 403
    assert office.post("/nedb/pull").status_code == 403
    _signed_in_as(office.world, "head@s1.kz")
    other = office.client.get("/office/schools/s2/nedb", headers={"Accept-Language": "ru"})
    assert other.status_code == 403
    # a school outside the exchange: asking for a pull changes nothing and says nothing went
    answer = office.post("/nedb/pull")
    assert answer.status_code == 200 and "Список запрошен" not in text_of(answer.text)


def test_the_region_sees_whether_its_school_takes_part_and_since_when_the_nedb_is_silent(office: Office) -> None:
    engine = office.app.state.engine
    with engine.begin() as conn:
        conn.execute(insert(schools).values(school_id="s1", name="Школа № 1", region_id="almaty"))
        account = create_account(conn, "akimat@almaty.kz", actor=SYSTEM, password=REGION_PASSWORD)
        grant_role(conn, account.id, Role.REGION, "almaty", actor=SYSTEM)
    client = as_(office.client, "akimat@almaty.kz", REGION_PASSWORD)
    page = "/office/regions/almaty/schools/s1/reports"
    assert "Школа не участвует в обмене с НОБД: её список загружается из файла." in text_of(get(client, page).text)
    since = datetime.now(UTC) + timedelta(days=1)  # in the future: the app's worker leaves it alone
    with engine.begin() as conn:
        enable(conn, "s1", ORG, actor="system", now=since)
        pull_failed(conn, "s1", "HTTP 503", now=since, retry_at=since + timedelta(minutes=2))
    seen = text_of(get(client, page).text)
    assert f"Код школы в НОБД: {ORG}" in seen and "НОБД не отвечает с" in seen


def test_the_deployment_administrator_opts_a_school_in_and_out_and_sees_its_state(office: Office) -> None:
    with office.app.state.engine.begin() as conn:
        account = create_account(conn, "it@mektep.kz", actor=SYSTEM, password=REGION_PASSWORD)
        grant_role(conn, account.id, Role.DEPLOYMENT_ADMIN, None, actor=SYSTEM)
    client = as_(office.client, "it@mektep.kz", REGION_PASSWORD)
    page = "/office/deployment/nedb"
    assert "Пока ни одна школа не участвует." in text_of(get(client, page).text)
    ru = {"Accept-Language": "ru"}
    bad = client.post(page, data={"school": "s9", "organisation": "not a code!"}, headers=ru)
    assert bad.status_code == 422
    refused = text_of(bad.text)
    assert "В этой системе нет такой школы" in refused and "Это не код организации в НОБД" in refused
    added = client.post(page, data={"school": "s1", "organisation": ORG}, headers=ru, follow_redirects=True)
    seen = text_of(added.text)
    assert "Сохранено" in seen and f"s1 код школы в НОБД: {ORG}" in seen
    with office.app.state.engine.connect() as conn:
        journal = conn.execute(select(audit_log.c.actor).where(audit_log.c.entity == "nedb_link")).scalars().all()
    assert journal == [f"account:{account.id}"]
    _signed_in_as(office.world, "head@s1.kz")  # a school's administrator does not choose the code
    assert office.client.get(page, headers=ru).status_code == 403
    client = as_(office.client, "it@mektep.kz", REGION_PASSWORD)
    gone = client.post(page, data={"leave": "s1"}, headers=ru, follow_redirects=True)
    assert "Пока ни одна школа не участвует." in text_of(gone.text)
