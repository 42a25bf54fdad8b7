"""The Social Wallet page of the office, as a school administrator uses it, over HTTP (in a browser:
tests/test_office_wallet_browser.py), against the Wallet simulator over real HTTP.

The Wallet refuses a child's meal for an IIN it does not know; the page says why in Russian and
what to do, the administrator corrects the IIN (journalled), sends the record again (journalled)
and the Wallet accepts it, with the prices as served and only the IIN new. The табель shows the
month by child and day with its differences and downloads; the status panel says since when the
Wallet is silent. Bad requests get a clear answer, never a 500. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text, update

from cloud_api.db.schema import audit_log, people, wallet_outbox
from cloud_api.services.audit import audit_entries
from cloud_api.social_wallet.office import refused, resend, sending_state
from cloud_api.social_wallet.tabel import month_bounds
from shared.contract import INGEST_PATH
from simulators.social_wallet import WalletServer
from tests.cloud_api.helpers import KEY2, batch_body, event, signed
from tests.cloud_api.school import CHILD, S2_CHILD, TEACHER, TEEN, iin
from tests.cloud_api.test_canteen_routes import DAY, setup_menu
from tests.cloud_api.test_office import Office, _signed_in_as, text_of
from tests.cloud_api.test_office import office as office
from tests.cloud_api.test_office import settings as settings
from tests.cloud_api.test_social_wallet import LUNCH_PRICE, FakeClock, ingest, lunch_day, meal, outbox, quick, send

# The flows that run on Citus too (tests/cloud_api/conftest.py); the rest on SQLite and PostgreSQL.
ON_CITUS = (
    "test_a_refused_meal_is_explained_the_iin_corrected_and_the_record_accepted_when_sent_again",
    "test_the_tabel_shows_served_against_confirmed_by_child_and_day_and_downloads",
    "test_the_status_panel_says_since_when_the_wallet_is_silent_and_the_last_receipt",
)


RIGHT_IIN = iin("15031950020")  # the child's IIN on her birth certificate; the roster had a digit wrong
MONTH = DAY[:7]


def _refused_meals(office: Office, wallet: WalletServer) -> dict[str, str]:
    """Tuesday's lunches sent: the Wallet knows no child with CHILD's IIN."""
    setup_menu(office.world)
    ids = lunch_day(office.world)
    wallet.reject(lambda r: r.student_iin == CHILD, "unknown_student", "ИИН не найден в реестре")
    return ids


def _row(office: Office, record_id: str) -> dict[str, Any]:
    return outbox(office.world)[record_id]


async def test_a_refused_meal_is_explained_the_iin_corrected_and_the_record_accepted_when_sent_again(
    office: Office,
) -> None:
    with WalletServer() as wallet:
        ids = _refused_meals(office, wallet)
        report = await send(office.world, wallet)
        assert (report.delivered, report.rejected) == (1, 1)
        page = office.get("/wallet", month=MONTH)
        assert page.status_code == 200
        seen = text_of(page.text)
        assert "Нұрланова Әлия" in seen
        assert "В «Социальном кошельке» нет ученика с этим ИИН." in seen  # the reason, in Russian
        assert "Сверьте ИИН ученика со свидетельством о рождении" in seen  # and what to do
        assert "ИИН не найден в реестре" in seen  # the Wallet's own words beside ours
        child = office.id(CHILD)
        assert f"/office/schools/s1/people/{child}" in page.text
        assert f"/office/schools/s1/wallet/people/{child}/iin" in page.text
        sent_before = _row(office, ids["free"])["payload"]

        # a mistyped correction is refused beside the field; nothing changes
        bad = office.post(f"/wallet/people/{child}/iin", {"iin": RIGHT_IIN[:11] + "0"})
        assert bad.status_code == 422 and "еверная контрольная цифра ИИН" in text_of(bad.text)
        taken = office.post(f"/wallet/people/{child}/iin", {"iin": TEEN})
        assert taken.status_code == 422 and "уже есть" in text_of(taken.text)
        fixed = office.post(f"/wallet/people/{child}/iin", {"iin": f" {RIGHT_IIN} "})
        assert fixed.status_code == 200 and "ИИН исправлен" in text_of(fixed.text)
        with office.app.state.engine.connect() as conn:
            assert conn.execute(select(people.c.iin).where(people.c.id == child)).scalar_one() == RIGHT_IIN
            journal = audit_entries(conn, "s1", "person")
        assert journal[-1]["before"] == {"iin": CHILD} and journal[-1]["after"] == {"iin": RIGHT_IIN}
        assert "ИИН сейчас" in text_of(fixed.text) and RIGHT_IIN in fixed.text

        sent = office.post(f"/wallet/records/{ids['free']}/resend")
        assert sent.status_code == 200 and "отправлена в «Социальный кошелёк» ещё раз" in text_of(sent.text)
        row = _row(office, ids["free"])
        assert row["status"] == "pending" and row["reason"] is None
        # only the identity changed: the prices, the dishes and the times are the meal's as served
        assert row["payload"] == {**sent_before, "student_iin": RIGHT_IIN}
        assert row["payload"]["full_price_tiyn"] == LUNCH_PRICE
        again = await send(office.world, wallet)
        assert (again.claimed, again.delivered) == (1, 1)
        assert wallet.state.accepted[UUID(ids["free"])].student_iin == RIGHT_IIN
        assert _row(office, ids["free"])["status"] == "delivered"
        with office.app.state.engine.connect() as conn:
            entry = conn.execute(select(audit_log).where(audit_log.c.entity == "wallet_record")).one()
        assert entry.entity_id == ids["free"] and entry.before["student_iin"] == CHILD
        assert entry.after["student_iin"] == RIGHT_IIN and entry.before["reason"] == "unknown_student"

        # accepted now: sending it again is refused, and nothing goes to the Wallet twice
        twice = office.post(f"/wallet/records/{ids['free']}/resend")
        assert twice.status_code == 409 and "Отправить ещё раз можно только" in text_of(twice.text)
        assert (await send(office.world, wallet)).claimed == 0 and len(wallet.state.accepted) == 2
        done = text_of(office.get("/wallet", month=MONTH).text)
        assert "Вашу запись" not in done and "ничего не отклонил" in done
    # what was sent and the journal of the correction and the resend are ciphertexts in the tables
    with office.app.state.engine.connect() as conn:
        stored = [
            str(v)
            for sql in ("SELECT payload FROM wallet_outbox", 'SELECT "before", "after" FROM audit_log')
            for row in conn.execute(text(sql))
            for v in row
            if v is not None
        ]
    assert stored and all(value.startswith("e1:") for value in stored)
    assert not any(number in value for value in stored for number in (CHILD, RIGHT_IIN, TEEN))


async def test_a_childs_refused_records_go_again_together_after_a_confirmation(office: Office) -> None:
    setup_menu(office.world)
    with WalletServer() as wallet:
        wallet.reject(lambda r: r.student_iin == TEEN, "not_eligible", "нет льготы")
        ids = lunch_day(office.world)
        later = event(
            9,
            kind="meal",
            person_id=str(office.id(TEEN)),
            reason="on_roster",
            meal=meal("discounted", 47500),
            at=f"{MONTH}-25T12:30:00+05:00",
        )
        ingest(office.world, [later])
        await send(office.world, wallet)
        teen = office.id(TEEN)
        page = text_of(office.get("/wallet", month=MONTH).text)
        assert "нет права на бесплатное или льготное питание" in page and "категорию питания ученика" in page
        assert "Отправить все 2 записи ещё раз" in page
        check = office.get(f"/wallet/people/{teen}/resend")
        assert check.status_code == 200
        assert "Отклонённые записи ученика Иванов Пётр (всего: 2)" in text_of(check.text)
        assert {r["status"] for r in outbox(office.world).values() if r["person_id"] == teen} == {"rejected"}
        office.post(f"/wallet/people/{teen}/resend")
        rows = [r for r in outbox(office.world).values() if r["person_id"] == teen]
        assert {r["status"] for r in rows} == {"pending"} and len(rows) == 2
        wallet.state.rejections.clear()  # the Wallet's register now says the boy has his discount
        report = await send(office.world, wallet)
        assert report.delivered == 2 and ids["discounted"] in {str(k) for k in wallet.state.accepted}


async def test_the_tabel_shows_served_against_confirmed_by_child_and_day_and_downloads(office: Office) -> None:
    with WalletServer() as wallet:
        _refused_meals(office, wallet)
        await send(office.world, wallet)
    page = office.get("/wallet", month=MONTH)
    seen = text_of(page.text)
    assert "Табель и квитанции: ноябрь 2026" in seen
    assert 'class="diff"' in page.text and "обед: отклонено «Социальным кошельком»" in seen
    assert "совпадает" in seen  # the boy's day: served and confirmed
    only = text_of(office.get("/wallet", month=MONTH, only="diff").text)
    assert "Нұрланова Әлия" in only and "Иванов Пётр" not in only.split("Табель и квитанции")[1]
    file = office.get("/wallet", month=MONTH, format="csv")
    assert file.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["Фамилия и имя", "Класс", "Дата", "Выдано"]
    lines = {row[0]: row for row in table[1:]}
    assert lines["Нұрланова Әлия"][2:6] == [DAY, "обед", "", "1"]
    assert lines["Иванов Пётр"][4:6] == ["обед", "0"]
    xlsx = office.get("/wallet", month=MONTH, format="xlsx")
    assert xlsx.content[:2] == b"PK"
    bad = office.get("/wallet", month="2026-13")
    assert bad.status_code == 422 and "Выберите месяц" in text_of(bad.text)
    empty = text_of(office.get("/wallet", month="2026-10").text)
    assert "нет бесплатного или льготного питания" in empty
    # in Kazakh: the reason and what to do, in the glossary's words
    kk = text_of(office.client.get("/office/schools/s1/wallet", params={"month": MONTH, "lang": "kk"}).text)
    assert "«Әлеуметтік әмиян» жүйесінде бұл ЖСН-мен оқушы жоқ" in kk
    assert "Оқушының ЖСН-ін туу туралы куәлігімен салыстырып" in kk and "Табель және түбіртектер" in kk


async def test_the_status_panel_says_since_when_the_wallet_is_silent_and_the_last_receipt(office: Office) -> None:
    setup_menu(office.world)
    lunch_day(office.world)
    clock = FakeClock()
    with WalletServer(clock=clock) as wallet:
        wallet.fail(until=clock() + 3600)
        await send(office.world, wallet, quick(clock, attempts=2))
        down = text_of(office.get("/wallet", month=MONTH).text)
        assert "«Социальный кошелёк» не отвечает с" in down and "ничего не потеряно" in down
        assert "2 ожидают отправки" in down
        with office.app.state.engine.connect() as conn:
            first, after = month_bounds(MONTH)
            state = sending_state(conn, "s1", first, after)
        assert state.pending == 2 and state.failing_since is not None and state.last_receipt_at is None
        assert state.last_error is not None and state.last_error.startswith("HTTP 503")
        await send(office.world, wallet, quick(clock))
    with office.app.state.engine.connect() as conn:
        state = sending_state(conn, "s1", first, after)
    assert (state.pending, state.receipted_in_month, state.failing_since) == (0, 2, None)
    assert state.last_receipt_at is not None
    up = text_of(office.get("/wallet", month=MONTH).text)
    assert "не отвечает" not in up and "Ничего не ожидает отправки" in up


async def test_bad_requests_get_a_clear_answer_and_change_nothing(office: Office) -> None:
    with WalletServer() as wallet:
        ids = _refused_meals(office, wallet)
        await send(office.world, wallet)
    before = outbox(office.world)
    assert office.post(f"/wallet/records/{uuid4()}/resend").status_code == 404
    assert office.post("/wallet/records/not-a-uuid/resend").status_code == 422
    accepted = office.post(f"/wallet/records/{ids['discounted']}/resend")
    assert accepted.status_code == 409
    assert office.post(f"/wallet/people/{uuid4()}/iin", {"iin": RIGHT_IIN}).status_code == 404
    assert office.get(f"/wallet/people/{uuid4()}/resend").status_code == 404
    # a teacher is not a child of the Wallet's: their IIN is not corrected from here
    assert office.post(f"/wallet/people/{office.id(TEACHER)}/iin", {"iin": RIGHT_IIN}).status_code == 404
    with office.app.state.engine.connect() as conn:
        assert conn.execute(select(people.c.iin).where(people.c.id == office.id(TEACHER))).scalar_one() == TEACHER
    # a meal of school s2, refused too, sent again from s1's office: not found there, and left as it was
    s2_meal = event(
        1,
        school="s2",
        gateway_id="gw2",
        kind="meal",
        person_id=str(office.id(S2_CHILD)),
        reason="on_roster",
        meal={"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0},
        at=f"{DAY}T12:30:00+05:00",
    )
    body = batch_body([s2_meal], gateway="gw2")
    assert office.client.post(INGEST_PATH, content=body, headers=signed(body, key=KEY2, gateway="gw2")).is_success
    with office.app.state.engine.begin() as conn:
        conn.execute(update(wallet_outbox).where(wallet_outbox.c.school_id == "s2").values(status="rejected"))
    before = outbox(office.world)
    assert office.post(f"/wallet/records/{s2_meal['id']}/resend").status_code == 404
    assert office.post(f"/wallet/people/{office.id(S2_CHILD)}/iin", {"iin": RIGHT_IIN}).status_code == 404
    # and the service itself: a record of school s1, asked for at school s2, is not found there
    with office.app.state.engine.begin() as conn, pytest.raises(Exception) as refused_:
        resend(conn, "s2", [UUID(ids["free"])], actor="test", now=datetime.now(UTC))
    assert getattr(refused_.value, "code", None) == "not_found"
    # the cook and a parent may not open the page nor send anything
    for who in ("cook@s1.kz", "+77012345678", "cook@s2.kz"):
        _signed_in_as(office.world, who)
        page = office.get("/wallet")
        assert page.status_code in (403, 401) or not page.url.path.endswith("/wallet"), who
        assert "Нұрланова Әлия" not in page.text, who
        sent = office.post(f"/wallet/records/{ids['free']}/resend")
        assert sent.status_code in (403, 401) or not sent.url.path.endswith("/wallet"), who
    assert outbox(office.world) == before
    with office.app.state.engine.connect() as conn:
        assert [r.record_id for r in refused(conn, "s1")] == [UUID(ids["free"])]
        s2 = conn.execute(select(wallet_outbox.c.status).where(wallet_outbox.c.school_id == "s2")).scalars().all()
    assert s2 == ["rejected"]


async def test_receipts_that_do_not_verify_are_told_apart_from_an_outage(office: Office) -> None:
    setup_menu(office.world)
    lunch_day(office.world)
    with WalletServer() as wallet:
        wallet.forge()
        report = await send(office.world, wallet)
        assert (report.delivered, report.unverified) == (0, 2)
    seen = text_of(office.get("/wallet", month=MONTH).text)
    assert "квитанции «Социального кошелька» не проходят проверку подписи" in seen
    assert "Сразу сообщите в службу поддержки" in seen and "не отвечает" not in seen


async def test_the_json_api_sends_a_refused_record_again_and_refuses_an_accepted_one(office: Office) -> None:
    with WalletServer() as wallet:
        ids = _refused_meals(office, wallet)
        await send(office.world, wallet)
        head = office.world.token("head@s1.kz")
        path = "/v1/schools/s1/social-wallet/records/{}/resend"
        assert office.client.post(path.format(ids["free"]), headers=office.world.token("cook@s1.kz")).status_code == 403
        assert office.client.post(path.format(ids["discounted"]), headers=head).status_code == 409
        assert office.client.post(path.format(uuid4()), headers=head).status_code == 404
        assert office.client.post(path.format(ids["free"]), headers=head).status_code == 204
        assert _row(office, ids["free"])["status"] == "pending"
        assert office.client.post(path.format(ids["free"]), headers=head).status_code == 409  # waiting already
