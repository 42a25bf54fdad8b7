"""The parent app's pages as a phone's browser gets them (no script needed), in the guardian's language."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cloud_api.services.family import ratings_of
from cloud_api.services.menus import bans_of
from shared.i18n import translator
from shared.localtime import LOCAL_TZ
from tests.cloud_api.school import CHILD, PASSWORD, TEEN, World
from tests.cloud_api.test_push import earlier_today, event, ingest


def signed_in(w: World, login: str = "+77012345678", lang: str = "ru") -> TestClient:
    page = w.client.post(
        "/app/sign-in", data={"login": login, "password": PASSWORD, "lang": lang}, follow_redirects=False
    )
    assert page.status_code == 303 and page.headers["location"] == "/app/"
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=lax" in page.headers["set-cookie"].lower()
    return w.client


def test_signing_in_and_out(world: World) -> None:
    assert world.client.get("/app/", follow_redirects=False).headers["location"] == "/app/sign-in"
    wrong = world.client.post("/app/sign-in", data={"login": "+77012345678", "password": "nope", "lang": "ru"})
    assert "Неверный логин или пароль" in wrong.text
    client = signed_in(world)
    assert "Әлия" in client.get("/app/").text
    client.post("/app/sign-out")
    assert client.get("/app/", follow_redirects=False).status_code == 303


def test_a_parent_sees_the_childs_day_sets_a_ban_consents_and_rates(world: World) -> None:
    child, teen = str(world.ids[CHILD]), str(world.ids[TEEN])
    lunch = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
    ingest(
        world,
        event(1, person_id=child, reason="on_roster", at=earlier_today(60)),
        event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=earlier_today(10)),
    )
    client = signed_in(world)
    client.post("/app/settings", data={"language": "ru", "entries": "true", "meals": "true"})
    home = client.get("/app/").text
    assert "Вход в школу" in home and "Палау" in home and "Иванов" in home  # both of her children
    page = client.get(f"/app/children/{child}").text
    assert "Оценить питание" in page and "Ограничения по аллергенам" in page
    this_month = translator("ru").month(datetime.now(UTC).astimezone(LOCAL_TZ)).capitalize()  # "Декабрь 2026"
    assert this_month in page and "обед <small>(Палау)</small>" in page.split(this_month)[1]  # what was served
    earlier = client.get(f"/app/children/{child}?month=2026-10").text
    assert "<h2>Октябрь 2026</h2>" in earlier and "В этом месяце ничего" in earlier
    assert "← сентябрь 2026" in earlier and "ноябрь 2026 →" in earlier  # months named, not 2026-09
    saved = client.post(f"/app/children/{child}/bans", data={"allergen": ["milk", "peanuts"]})
    assert saved.status_code == 200 and "Сохранено" in saved.text
    with world.app.state.engine.connect() as conn:
        assert bans_of(conn, "s1", [world.ids[CHILD]])[world.ids[CHILD]] == ["milk", "peanuts"]
    rated = client.post(f"/app/children/{child}/rating", data={"period": "lunch", "stars": "4", "comment": "вкусно"})
    assert "Сохранено" in rated.text
    with world.app.state.engine.connect() as conn:
        assert ratings_of(conn, "s1", datetime.now(UTC).astimezone(LOCAL_TZ).date()) == {"lunch": (4.0, 1)}
    nothing = client.post(f"/app/children/{teen}/rating", data={"period": "lunch", "stars": "5"})
    assert "Ребёнок сегодня не получал это питание" in nothing.text  # the teen had no lunch today
    assert "На этот день меню нет" in client.get("/app/menu").text
    assert "Включить уведомления" in client.get("/app/settings").text
    client.post(f"/app/children/{child}/consent", data={"given": "false"})
    assert "Согласие не дано" in client.get(f"/app/children/{child}").text


def test_a_parent_reaches_no_other_familys_child_and_no_form_from_elsewhere(world: World) -> None:
    client = signed_in(world, "father@mail.kz")
    child = str(world.ids[CHILD])  # the mother's child, not his
    assert client.get(f"/app/children/{child}").status_code == 404
    assert client.post(f"/app/children/{child}/bans", data={"allergen": ["milk"]}).status_code == 404
    forged = client.post(
        f"/app/children/{child}/consent", data={"given": "true"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403


def test_the_app_is_installable_and_its_worker_is_served_for_the_whole_app(world: World) -> None:
    manifest = world.client.get("/app/manifest.webmanifest").json()
    assert manifest["start_url"] == "/app/" and manifest["display"] == "standalone"
    worker = world.client.get("/app/sw.js")
    assert worker.headers["service-worker-allowed"] == "/app/" and "showNotification" in worker.text
    assert world.client.get("/app/static/..%2Fsettings.py").status_code == 404
