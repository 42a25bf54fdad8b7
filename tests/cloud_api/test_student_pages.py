"""A student's own pages at /app/: who sees what, the rating the office reads, the digital resources."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from cloud_api.core.errors import DomainError
from cloud_api.integrations.clients import create_client, revoke_client
from cloud_api.integrations.oidc.grants import record_grant, withdraw
from cloud_api.push.subscriptions import notice_settings
from cloud_api.services.menus import set_allergen_bans, set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.ratings import month_ratings, rating_comments
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Allergen, Dish, MealRules, SetMeal
from tests.cloud_api.oidc_world import STUDENT_PASSWORD, add_students
from tests.cloud_api.school import CHILD, MOTHER, PASSWORD, TEEN, World, lunch_around_now
from tests.cloud_api.test_push import earlier_today, event, ingest

# The rating once more on the cluster (a student's account and their person live on other shards); the
# pages' choices of who sees what are the same SQL on every database, so SQLite alone walks them.
ON_CITUS = ("test_a_student_rates_lunch_changes_it_and_the_office_reads_it",)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LUNCH = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}


def _today() -> datetime:
    return datetime.now(UTC).astimezone(LOCAL_TZ)


def _signed_in(w: World, login: str, password: str = STUDENT_PASSWORD, lang: str = "ru") -> TestClient:
    w.client.cookies.clear()
    answer = w.client.post(
        "/app/sign-in", data={"login": login, "password": password, "lang": lang}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/app/", answer.text
    return w.client


@pytest.fixture
def school(world: World) -> World:
    """The sample school with student accounts, Әлия's entry and lunch today, and Пётр's entry."""
    world.ids.update(add_students(world))
    child, teen = str(world.ids[CHILD]), str(world.ids[TEEN])
    ingest(
        world,
        event(1, person_id=child, reason="on_roster", at=earlier_today(60)),
        event(2, kind="meal", person_id=child, reason="on_roster", meal=LUNCH, at=earlier_today(10)),
        event(3, person_id=teen, reason="on_roster", at=earlier_today(30)),
    )
    return world


@SQLITE_ONLY
def test_a_student_sees_their_own_day_and_a_guardian_still_the_parent_home(school: World) -> None:
    client = _signed_in(school, "aliya@mail.kz")
    home = client.get("/app/").text
    assert "Привет, Әлия!" in home and "Вход в школу" in home and "Палау" in home
    assert 'href="/app/rate"' in home and 'href="/app/resources"' in home and "Иванов" not in home
    assert "Баланс" not in home  # the school's meals are not prepaid
    # The menu is the parent app's page in the student's layout.
    menu = client.get("/app/menu").text
    assert "На этот день меню нет" in menu and "Оценить столовую" in menu and "Дети" not in menu
    # Nothing of the parent app: no child's page (not even her own), no settings of notices.
    assert client.get(f"/app/children/{school.ids[CHILD]}", follow_redirects=False).headers["location"] == (
        "/app/sign-in"
    )
    assert client.get("/app/settings", follow_redirects=False).status_code == 303

    # Another student sees only his own day.
    client = _signed_in(school, "petr@mail.kz")
    home = client.get("/app/").text
    assert "Привет, Пётр!" in home and "Вход в школу" in home and "Палау" not in home and "Әлия" not in home
    assert "Сегодня ты не получал питание" in client.get("/app/rate").text

    # Their mother still gets the parent app, and no student's page.
    client = _signed_in(school, "8 (701) 234-56-78", PASSWORD)
    home = client.get("/app/").text
    assert "Нұрланова" in home and "Иванов" in home and "Привет" not in home
    assert client.get("/app/rate").status_code == 404 and client.get("/app/resources").status_code == 404
    assert "Дети" in client.get("/app/menu").text

    # Prepaid meals: her balance; her mother forbade milk: her home and the menu say so.
    with school.app.state.engine.begin() as conn:
        set_meal_rules(conn, "s1", MealRules(periods=[lunch_around_now()], prepaid=True), actor="admin")
        milky = Dish(id=uuid.uuid4(), names={"kk": "Сүт ботқа", "ru": "Молочная каша"}, price_tiyn=45000)
        milky = milky.model_copy(update={"allergens": [Allergen("milk")]})
        upsert_dish(conn, "s1", milky, actor="cook")
        meal = SetMeal(day=_today().date(), period="lunch", dish_ids=[milky.id], price_tiyn=45000)
        set_day_menu(conn, "s1", meal, actor="cook")
        set_allergen_bans(conn, "s1", school.ids[CHILD], school.ids[MOTHER], [Allergen("milk")], actor="admin")
    client = _signed_in(school, "aliya@mail.kz")
    home = client.get("/app/").text
    assert "Баланс" in home and "0\xa0₸" in home
    assert "столовая их тебе не выдаёт: молоко" in home.lower()
    menu = client.get("/app/menu").text
    assert "Молочная каша" in menu and "Тебе не выдадут" in menu

    # Her own language for the pages (and for the locale a platform may learn).
    assert "Сәлем, Әлия!" in client.post("/app/language", data={"language": "kk"}).text
    with school.app.state.engine.connect() as conn:
        assert notice_settings(conn, school.ids["aliya@mail.kz"]).language == "kk"


def test_a_student_rates_lunch_changes_it_and_the_office_reads_it(school: World) -> None:
    client = _signed_in(school, "aliya@mail.kz")
    page = client.get("/app/rate").text
    assert "Обед: Палау" in page and "Сколько звёзд?" in page and "4 — Хорошо" in page
    rated = client.post("/app/rate", data={"period": "lunch", "stars": "4", "comment": "вкусно"})
    assert "Спасибо: твоя оценка сохранена." in rated.text and "Твоя оценка" in rated.text
    assert "4 звезды — Хорошо" in rated.text and "«вкусно»" in rated.text
    changed = client.post("/app/rate", data={"period": "lunch", "stars": "5", "comment": "очень вкусно"})
    assert "5 звёзд — Очень хорошо" in changed.text and "Изменить оценку" in changed.text
    today = _today().date()
    with school.app.state.engine.connect() as conn:
        counted = month_ratings(conn, "s1", today, today)
        comments, total = rating_comments(conn, "s1", counted.first, counted.after, names=True, with_hidden=True)
    assert counted.overall.count == 1 and counted.overall.average == 5.0  # changed, not added
    assert total == 1 and comments[0].rater_role == "student" and comments[0].comment == "очень вкусно"
    assert comments[0].rater == "Нұрланова Әлия"

    # A mistake: the form again with the error in the summary and beside the field; nothing changed.
    no_stars = client.post("/app/rate", data={"period": "lunch", "comment": "вкусно"})
    assert no_stars.status_code == 422 and 'href="#stars-lunch"' in no_stars.text
    assert no_stars.text.count("Выбери, сколько звёзд: от 1 до 5.") == 2  # the summary and beside the field
    assert ">вкусно</textarea>" in no_stars.text  # what she wrote is kept
    too_long = client.post("/app/rate", data={"period": "lunch", "stars": "3", "comment": "ж" * 501})
    assert too_long.status_code == 422 and 'href="#comment-lunch"' in too_long.text
    not_had = client.post("/app/rate", data={"period": "breakfast", "stars": "3"})
    assert not_had.status_code == 422 and "не получал" in not_had.text and 'href="#meals"' in not_had.text
    forged = client.post("/app/rate", data={"period": "lunch", "stars": "5"}, headers={"Origin": "https://x.example"})
    assert forged.status_code == 403
    with school.app.state.engine.connect() as conn:
        kept = month_ratings(conn, "s1", today, today).overall
    assert kept.count == 1 and kept.average == 5.0


@SQLITE_ONLY
def test_digital_resources_are_the_platforms_that_serve_the_school(school: World) -> None:
    now = datetime.now(UTC)
    with school.app.state.engine.begin() as conn:

        def register(name: str, **fields: object) -> str:
            client, _secret = create_client(conn, name=name, actor="account:admin", now=now, **fields)  # type: ignore[arg-type]
            return client.client_id

        opiq = register(
            "Opiq",
            redirect_uris=["https://opiq.example/cb"],
            initiate_login_uri="https://opiq.example/start?from=mektep",
            region_id="almaty",
        )
        register("Bilimland", redirect_uris=["https://bilimland.example/cb"])
        kundelik = register("Kundelik", redirect_uris=["https://kundelik.example/cb"], school_ids=["s1"])
        register("Astana books", redirect_uris=["https://books.example/cb"], region_id="astana")
        register("E-diary API", scopes=["attendance:read"])
        gone = register("Old platform", redirect_uris=["https://old.example/cb"])
        revoke_client(conn, gone, actor="account:admin", now=now)
        aliya = school.ids["aliya@mail.kz"]
        record_grant(conn, aliya, opiq, ["name"], offered=["name"], school_id="s1", now=now)
        record_grant(conn, aliya, kundelik, ["name"], offered=["name"], school_id="s1", now=now)
        withdraw(conn, aliya, kundelik, actor="account:mother", school_id="s1", now=now, by_guardian=True)

    client = _signed_in(school, "aliya@mail.kz")
    page = client.get("/app/resources").text
    names = [n for n in ("Bilimland", "Kundelik", "Opiq", "Astana books", "E-diary API", "Old platform") if n in page]
    assert names == ["Bilimland", "Kundelik", "Opiq"]
    assert page.index("Bilimland") < page.index("Kundelik") < page.index("Opiq")  # by name
    assert "Тебе ещё нет 16 лет" in page  # born 2015
    opiq_card = page.split("Opiq</h2>")[1].split("</section>")[0]
    assert "Согласие дано" in opiq_card
    link = opiq_card.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert link.startswith("https://opiq.example/start?")
    assert parse_qs(urlsplit(link).query) == {"from": ["mektep"], "iss": ["http://testserver/oidc"]}
    kundelik_card = page.split("Kundelik</h2>")[1].split("</section>")[0]
    assert "Остановлено родителем" in kundelik_card and "href" not in kundelik_card
    bilimland_card = page.split("Bilimland</h2>")[1].split("</section>")[0]
    assert "Пока нет" in bilimland_card and "«Войти через Mektep Gate»" in bilimland_card

    # A student of another school sees her own school's platforms only.
    other = _signed_in(school, "alina@mail.kz").get("/app/resources").text
    assert "Astana books" in other and "Bilimland" in other and "Opiq" not in other and "Kundelik" not in other

    # The start address is checked like a return address, and only a platform that signs in has one.
    with school.app.state.engine.begin() as conn:
        for start, redirect, code in (
            ("http://opiq.example/start", ["https://opiq.example/cb"], "integration_start_invalid"),
            ("https://opiq.example/start", [], "integration_start_without_sign_in"),
        ):
            with pytest.raises(DomainError) as refused:
                create_client(
                    conn,
                    name="Opiq",
                    actor="admin",
                    now=now,
                    redirect_uris=redirect,
                    scopes=["attendance:read"],
                    initiate_login_uri=start,
                )
            assert refused.value.errors == [("initiate_login_uri", code)]
