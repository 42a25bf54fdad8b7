"""The gateway's pages on the school's network: staff sign in by PIN or from a paired device, journalled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from device_drivers.base import LinkState
from gateway.access import store
from gateway.access.gate import DEVICE_COOKIE, STAFF_COOKIE, is_loopback
from gateway.taps.policy import Reason
from shared.i18n import LANGUAGES, catalog_messages
from tests.gateway.local_pages import PIN, Pages, local_pages


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[Pages]:
    with local_pages(tmp_path) as made:
        yield made


def client(pages: Pages) -> TestClient:
    return TestClient(pages.app, follow_redirects=False)


def sign_in(c: TestClient, pages: Pages, pin: str = PIN, staff: str = "COOK", lang: str = "ru") -> object:
    form = {"staff_id": pages.staff_id(staff), "pin": pin, "next": "/canteen", "lang": lang}
    return c.post("/sign-in", data=form)


def test_loopback_is_the_only_address_that_asks_nobody() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.0.2.2", "::", "gateway.school.kz"))


def test_pages_and_apis_ask_a_stranger_to_sign_in_while_metrics_stay_open(pages: Pages) -> None:
    c = client(pages)
    for page in ("/canteen?lang=ru", "/?lang=ru"):
        answer = c.get(page)
        assert answer.status_code == 303 and answer.headers["location"].startswith("sign-in?next=%2F")
    for api in ("/api/canteen", "/api/events", "/api/status", "/photos/" + "0" * 64):
        answer = c.get(api + "?lang=ru")
        assert answer.status_code == 401 and answer.json()["detail"]["code"] == "sign_in_required"
    refused = c.post("/api/canteen/manual", json={"pin": PIN, "staff_id": pages.staff_id(), "person_id": "x"})
    assert refused.status_code == 401
    assert c.get("/metrics").status_code == 200 and c.get("/healthz").status_code == 200
    form = c.get("/sign-in?lang=ru&next=/canteen").text
    assert "Вход по PIN-коду столовой" in form and "Гүлнар апай" in form and "Привязать это устройство" in form
    assert "TEACHER" not in form  # no PIN on the roster: cannot sign in


def test_a_wrong_pin_is_refused_in_the_users_language_and_a_right_one_opens_the_canteen(pages: Pages) -> None:
    c = client(pages)
    wrong = sign_in(c, pages, pin="0000", lang="kk")
    assert wrong.status_code == 403 and "PIN-код қате" in wrong.text and STAFF_COOKIE not in wrong.cookies
    right = sign_in(c, pages)
    assert right.status_code == 303 and right.headers["location"] == "canteen?lang=ru"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    screen = c.get("/canteen?lang=ru")
    assert screen.status_code == 200 and "Вход выполнен" in screen.text and "Гүлнар апай" in screen.text
    served = c.post(
        "/api/canteen/manual?lang=ru",
        json={"pin": PIN, "staff_id": pages.staff_id(), "person_id": pages.staff_id("BEREKE"), "reason": "забыл"},
    )
    assert served.status_code == 200 and served.json()["granted"]
    # A session lasts a school day.
    pages.now[0] += timedelta(hours=12, minutes=1)
    assert c.get("/canteen").status_code == 303


def test_a_forged_or_stale_staff_cookie_opens_nothing(pages: Pages) -> None:
    c = client(pages)
    value = sign_in(c, pages).cookies[STAFF_COOKIE]
    staff, expires, fingerprint, mac = value.split(".")
    forged = TestClient(pages.app, follow_redirects=False)
    forged.cookies.set(STAFF_COOKIE, ".".join([pages.staff_id("TEACHER"), expires, fingerprint, mac]))
    assert forged.get("/canteen").status_code == 303
    forged.cookies.set(STAFF_COOKIE, ".".join([staff, str(int(expires) + 86400), fingerprint, mac]))
    assert forged.get("/canteen").status_code == 303


def test_guessing_pins_locks_the_staff_member_then_the_address(pages: Pages) -> None:
    c = client(pages)
    for _ in range(5):
        assert sign_in(c, pages, pin="0000").status_code == 403
    locked = sign_in(c, pages)  # even the right PIN, while locked
    assert locked.status_code == 429 and "слишком много раз" in locked.text
    for _ in range(5):  # a name not on the roster is counted against the address
        assert sign_in(c, pages, staff="TEACHER").status_code == 403
    pages.now[0] += timedelta(minutes=5)  # the cook's lock is over, the address's is not
    assert "С этого устройства" in sign_in(c, pages).text
    pages.now[0] += timedelta(minutes=10)
    assert sign_in(c, pages).status_code == 303


def test_a_device_paired_once_goes_straight_in_until_unpaired(pages: Pages) -> None:
    c = client(pages)
    code = pages.pairing_code()
    wrong = c.post("/pair", data={"code": "AAAA-AAAA", "name": "PC", "next": "/", "lang": "en"})
    assert wrong.status_code == 403 and "wrong, used or expired" in wrong.text
    assert c.post("/pair", data={"code": code, "name": " ", "lang": "en"}).status_code == 422
    paired = c.post("/pair", data={"code": code.lower().replace("-", " "), "name": "Асхана ПК", "next": "/"})
    assert paired.status_code == 303 and paired.headers["location"] == "./?lang=kk"
    token = paired.cookies[DEVICE_COOKIE]
    assert c.get("/canteen").status_code == 200 and c.get("/api/events").status_code == 200
    # The code worked once; the token is kept only as its hash.
    other = TestClient(pages.app, follow_redirects=False)
    assert other.post("/pair", data={"code": code, "name": "again"}).status_code == 403
    held = asyncio.run(pages.storage.call(lambda o: o.db.execute("SELECT token_sha256 FROM paired_devices").fetchall()))
    assert len(held) == 1 and token not in str(held)
    # Unpaired (`mektep gateway unpair`), the browser is a stranger again.
    device = asyncio.run(pages.storage.call(lambda o: store.devices(o.db)))[0]
    assert asyncio.run(pages.storage.call(lambda o: store.revoke(o.db, device.id, pages.now[0])))
    assert c.get("/canteen").status_code == 303


def test_a_pairing_code_expires_after_a_quarter_of_an_hour(pages: Pages) -> None:
    code = pages.pairing_code()
    pages.now[0] += timedelta(minutes=15)
    assert client(pages).post("/pair", data={"code": code, "name": "PC"}).status_code == 403


def test_the_events_page_journals_sign_ins_and_pairing(pages: Pages) -> None:
    c = client(pages)
    sign_in(c, pages, pin="0000")
    sign_in(c, pages)
    page = c.get("/?lang=ru").text
    assert "Входы и привязанные устройства" in page
    assert page.index("вход по PIN-коду") < page.index("неверный PIN-код")  # newest first
    assert "Гүлнар апай" in page and "testclient" in page  # who, and from which address


def test_the_events_page_shows_its_rows_in_words_without_a_script(pages: Pages) -> None:
    pages.tap("ALIYA", 10)
    pages.tap("ALIYA", 11)  # a second free lunch: refused
    pages.tap("NOBODY", 12)
    c = client(pages)
    c.cookies.set(STAFF_COOKIE, sign_in(c, pages).cookies[STAFF_COOKIE])
    page = c.get("/?lang=ru").text
    body = page[page.index('<tbody id="events">') :]
    for words in ("питание", "разрешено", "отказано", "в списке", "это питание уже выдано", "нет такой карты"):
        assert words in body, words
    for code in ("on_roster", "already_served", "unknown_card", "granted"):
        assert f">{code}<" not in body
    api = c.get("/api/events?lang=kk").json()
    assert api[0]["reason"] == "unknown_card" and api[0]["labels"]["reason_label"] == "мұндай карта жоқ"


def test_every_reason_the_gateway_records_has_words_in_every_language() -> None:
    emitted = {r.value for r in Reason if r is not Reason.MANUAL and r is not Reason.DEVICE_STATUS}
    emitted |= {s.value for s in LinkState}  # a device's event carries its state as its reason
    for lang in LANGUAGES:
        words = catalog_messages(lang)
        missing = {code for code in emitted if code not in words}
        assert not missing, (lang, missing)
        if lang != "en":
            assert not {code for code in emitted if words[code] == code}, lang


def test_on_loopback_nobody_is_asked(tmp_path: Path) -> None:
    with local_pages(tmp_path, required=False) as pages:
        c = client(pages)
        assert c.get("/canteen").status_code == 200 and c.get("/api/events").status_code == 200
        assert c.get("/sign-in").status_code == 404
