"""Meal ratings (§33-1.8): families and students rate, the school reads them in the office and hides a rude
comment; the month's meals report says the average. Over HTTP and through the services, on both databases.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import audit_log, meal_ratings
from cloud_api.reports.build import meals_report
from cloud_api.reports.formats import render
from cloud_api.reports.models import MealsReport
from cloud_api.services.family import rate_meal
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.ratings import month_ratings, rate_as_student, ratings_trend, set_comment_hidden
from shared.i18n import translator
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from tests.cloud_api import test_office
from tests.cloud_api.helpers import batch_body, event, signed
from tests.cloud_api.school import CHILD, FATHER, MOTHER, OTHER_CHILD, TEEN, serve_lunch_today
from tests.cloud_api.test_office import Office, _signed_in_as, text_of

# The office's fixtures: school s1's administrator signed in, the card key set.
settings = test_office.settings
office = test_office.office

RUDE = "суп холодный, повар дурак"


def today() -> date:
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()


def ingest_meals(client: TestClient, meals: list[tuple[UUID, str, datetime]], first_seq: int = 1) -> None:
    """Each (person, period, local time) as a granted meal event from the school's gateway."""
    body = batch_body(
        [
            event(
                first_seq + n,
                at=at.isoformat(),
                kind="meal",
                person_id=str(person),
                meal={"period": period, "category": "free", "dishes": ["Плов"], "price_tiyn": 0},
            )
            for n, (person, period, at) in enumerate(meals)
        ]
    )
    answer = client.post("/v1/ingest/batches", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text


def rate_the_day(o: Office) -> None:
    """Lunch today for three pupils; both guardians and one pupil rate it (5, 2 rude, 4 and 3)."""
    with o.app.state.engine.begin() as conn:
        serve_lunch_today(conn, "s1")
    now = datetime.now(LOCAL_TZ)
    ingest_meals(o.client, [(o.id(CHILD), "lunch", now), (o.id(TEEN), "lunch", now), (o.id(OTHER_CHILD), "lunch", now)])
    with o.app.state.engine.begin() as conn:
        rate_meal(conn, "s1", o.id(CHILD), o.id(MOTHER), today(), "lunch", 5, "очень вкусно")
        rate_meal(conn, "s1", o.id(TEEN), o.id(MOTHER), today(), "lunch", 2, RUDE)
        rate_meal(conn, "s1", o.id(OTHER_CHILD), o.id(FATHER), today(), "lunch", 4, None)
        rate_as_student(conn, "s1", o.id(TEEN), today(), "lunch", 3, "нормально")


def rating_id(app: FastAPI, comment: str) -> UUID:
    with app.state.engine.connect() as conn:
        return conn.execute(select(meal_ratings.c.id).where(meal_ratings.c.comment == comment)).scalar_one()


def test_the_admin_reads_the_days_ratings_by_period_and_dish_with_who_rated(office: Office) -> None:
    rate_the_day(office)
    page = office.get("/ratings", day=today().isoformat())
    assert page.status_code == 200
    seen = text_of(page.text)
    assert "3,5 Средняя оценка (из 5)" in seen and "4 Число оценок" in seen  # (5 + 2 + 4 + 3) / 4
    assert "обед 3,5 4 0 1 1 1 1" in seen  # lunch: the average, how many, then how many gave 1 to 5 stars
    assert "Плов 3,5" in seen  # the day's set meal's dish
    assert RUDE in seen and "Нұрланова Гүлнар" in seen and "Иванов Пётр" in seen  # the admin sees who
    assert "Ученик: Иванов Пётр" in seen  # the pupil who rated their own lunch
    month = text_of(office.get("/ratings").text)
    assert f"{today().strftime('%d.%m.%Y')} 3,5" in month  # the month, by day
    kazakh = text_of(office.client.get("/office/schools/s1/ratings", headers={"Accept-Language": "kk"}).text)
    assert "Тамақтануды бағалау" in kazakh and "3,5 Орташа баға (5-тен)" in kazakh and "түскі ас" in kazakh


def test_a_rude_comment_is_hidden_after_a_check_journalled_and_its_stars_still_count(office: Office) -> None:
    rate_the_day(office)
    rude = rating_id(office.app, RUDE)
    check = office.get(f"/ratings/{rude}/hide", month=today().strftime("%Y-%m"))
    assert check.status_code == 200 and RUDE in check.text and "по-прежнему учитывается" in text_of(check.text)
    with office.app.state.engine.connect() as conn:
        assert conn.execute(select(meal_ratings.c.hidden_at).where(meal_ratings.c.id == rude)).scalar_one() is None
    action = f"/ratings/{rude}/hide?back=" + f"/office/schools/s1/ratings?month={today().strftime('%Y-%m')}"
    hidden = office.post(action)
    assert hidden.status_code == 200 and "Комментарий скрыт" in text_of(hidden.text)
    assert "Скрыт " in text_of(hidden.text) and "3,5 Средняя оценка" in text_of(hidden.text)
    with office.app.state.engine.connect() as conn:
        row = conn.execute(select(meal_ratings).where(meal_ratings.c.id == rude)).one()
        journal = conn.execute(select(audit_log).where(audit_log.c.entity == "meal_rating")).all()
    assert row.hidden_at is not None and row.hidden_by.startswith("account:")
    assert [(j.entity_id, j.before, j.after) for j in journal] == [(str(rude), {"hidden": False}, {"hidden": True})]
    assert "Комментарий скрыт: нет → да" in text_of(office.get("/journal").text)
    _signed_in_as(office.world, "cook@s1.kz")  # the canteen reads, without the words hidden or any name
    cook = text_of(office.get("/ratings").text)
    assert "3,5 Средняя оценка" in cook and RUDE not in cook and "очень вкусно" in cook
    assert "Нұрланова" not in cook and "Иванов" not in cook and "Скрыть комментарий" not in cook
    _signed_in_as(office.world, "head@s1.kz")
    shown = office.post(f"/ratings/{rude}/show")
    assert "Комментарий снова показан" in text_of(shown.text)
    with office.app.state.engine.connect() as conn:
        assert conn.execute(select(meal_ratings.c.hidden_at).where(meal_ratings.c.id == rude)).scalar_one() is None


def test_only_the_schools_admin_hides_and_only_its_own_schools_ratings(office: Office) -> None:
    rate_the_day(office)
    rude = rating_id(office.app, RUDE)
    elsewhere = uuid.uuid4()
    with office.app.state.engine.begin() as conn:
        conn.execute(
            insert(meal_ratings).values(
                school_id="s2",
                child_id=uuid.uuid4(),
                day=today(),
                period="lunch",
                guardian_id=uuid.uuid4(),
                stars=1,
                comment="другая школа",
                at=datetime.now(UTC),
                id=elsewhere,
            )
        )
    other = office.post(f"/ratings/{elsewhere}/hide")
    assert other.status_code == 404 and "<html" in other.text
    assert office.post(f"/ratings/{uuid.uuid4()}/hide").status_code == 404
    _signed_in_as(office.world, "cook@s1.kz")
    refused = office.post(f"/ratings/{rude}/hide")
    assert refused.status_code == 403 and "<html" in refused.text
    assert office.get(f"/ratings/{rude}/hide").status_code == 403
    with office.app.state.engine.connect() as conn:
        assert conn.execute(select(meal_ratings.c.hidden_at).where(meal_ratings.c.hidden_at.is_not(None))).all() == []
        with pytest.raises(DomainError) as error:
            set_comment_hidden(conn, "s1", elsewhere, True, actor="account:x")
    assert error.value.code == "unknown_rating"


def test_bad_ratings_are_refused_with_a_reason(office: Office) -> None:
    with office.app.state.engine.begin() as conn:
        serve_lunch_today(conn, "s1")
    ingest_meals(office.client, [(office.id(CHILD), "lunch", datetime.now(LOCAL_TZ))])
    for stars, comment, code in [
        (0, None, "bad_rating"),
        (6, None, "bad_rating"),
        (True, None, "bad_rating"),
        (5, "x" * 501, "comment_too_long"),
    ]:
        with office.app.state.engine.begin() as conn, pytest.raises(DomainError) as error:
            rate_meal(conn, "s1", office.id(CHILD), office.id(MOTHER), today(), "lunch", stars, comment)  # type: ignore[arg-type]
        assert error.value.code == code
    with office.app.state.engine.begin() as conn, pytest.raises(DomainError) as error:
        rate_as_student(conn, "s1", office.id(MOTHER), today(), "lunch", 5, None)  # a guardian is no student
    assert error.value.code == "not_a_student"
    with office.app.state.engine.begin() as conn, pytest.raises(DomainError) as error:
        rate_as_student(conn, "s1", office.id(TEEN), today(), "lunch", 5, None)  # he had no lunch today
    assert error.value.code == "no_meal_to_rate"
    parent = office.world.client
    parent.cookies.clear()
    signed = parent.post(
        "/app/sign-in", data={"login": "+77012345678", "password": "correct horse battery", "lang": "ru"}
    )
    assert signed.status_code in (200, 303)
    long = parent.post(
        f"/app/children/{office.id(CHILD)}/rating", data={"period": "lunch", "stars": "5", "comment": "я" * 600}
    )
    assert long.status_code == 200 and "Комментарий слишком длинный" in long.text
    with office.app.state.engine.connect() as conn:
        assert conn.execute(select(meal_ratings)).all() == []


def test_the_months_ratings_download_with_names_for_the_admin_only(office: Office) -> None:
    rate_the_day(office)
    with office.app.state.engine.begin() as conn:
        set_comment_hidden(conn, "s1", rating_id(office.app, RUDE), True, actor="account:x")
    answer = office.get("/ratings", month=today().strftime("%Y-%m"), format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0][:6] == ["Дата", "Приём пищи", "Блюда", "Звёзды", "Кто оценил", "Комментарий"]
    assert len(table) == 5 and {row[3] for row in table[1:]} == {"5", "2", "4", "3"}
    assert any(RUDE in row and "да" in row for row in table) and any("Нұрланова Гүлнар" in row for row in table)
    assert office.get("/ratings", format="xlsx").content[:2] == b"PK"
    _signed_in_as(office.world, "cook@s1.kz")
    cooks = office.get("/ratings", format="csv").content.decode("utf-8-sig")
    assert RUDE not in cooks and "Нұрланова" not in cooks and cooks.count("\n") == 5


def test_months_are_chosen_in_the_address_and_a_bad_one_falls_back(office: Office) -> None:
    this_month = today().replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    page = text_of(office.get("/ratings", month=previous.strftime("%Y-%m")).text)
    assert "Никто ещё не оценил питание в этом месяце" in page
    assert office.get("/ratings", month="2026-13").status_code == 200
    typed = text_of(office.get("/ratings", month=previous.strftime("%m.%Y")).text)  # as a person types it
    assert typed.split("Оценки питания:")[1].strip().startswith(translator("ru").month(previous))
    alone = text_of(office.get("/ratings", day=previous.replace(day=2).strftime("%d.%m.%Y")).text)  # a day alone
    assert alone.split("Оценки питания:")[1].strip().startswith(previous.replace(day=2).strftime("%d.%m.%Y"))
    assert office.get("/ratings", month="nonsense", day="31.02").status_code == 200
    future = office.get("/ratings", month="2999-01")  # no ratings from the future: this month instead
    assert future.status_code == 200 and "2999" not in text_of(future.text).split("Оценки питания:")[1][:30]


def test_periods_go_by_their_time_dishes_by_the_set_meal_and_the_trend_by_month(office: Office) -> None:
    app = office.app
    day = today()
    earlier = (day.replace(day=1) - timedelta(days=20)).replace(day=3)
    rules = MealRules(
        periods=[
            MealPeriod(name="afternoon", starts=time(15), ends=time(16)),
            MealPeriod(name="breakfast", starts=time(8), ends=time(9)),
            MealPeriod(name="lunch", starts=time(12), ends=time(13)),
        ],
        free_periods=["lunch"],
    )
    porridge = Dish(id=uuid.uuid4(), names={"ru": "Каша"}, price_tiyn=30000)
    soup = Dish(id=uuid.uuid4(), names={"ru": "Суп"}, price_tiyn=40000)
    with app.state.engine.begin() as conn:
        set_meal_rules(conn, "s1", rules, actor="admin")
        for dish in (porridge, soup):
            upsert_dish(conn, "s1", dish, actor="cook")
        set_day_menu(
            conn, "s1", SetMeal(day=day, period="breakfast", dish_ids=[porridge.id], price_tiyn=30000), actor="c"
        )
        set_day_menu(
            conn, "s1", SetMeal(day=day, period="lunch", dish_ids=[soup.id, porridge.id], price_tiyn=70000), actor="c"
        )
    at = datetime.combine(day, time(10), LOCAL_TZ)
    before = datetime.combine(earlier, time(10), LOCAL_TZ)
    ingest_meals(
        office.client,
        [(office.id(CHILD), p, at) for p in ("afternoon", "breakfast", "lunch")]
        + [(office.id(CHILD), "lunch", before)],
    )
    with app.state.engine.begin() as conn:
        for period, stars in (("afternoon", 1), ("breakfast", 5), ("lunch", 3)):
            rate_meal(conn, "s1", office.id(CHILD), office.id(MOTHER), day, period, stars, None)
        rate_meal(conn, "s1", office.id(CHILD), office.id(MOTHER), earlier, "lunch", 2, None)
    with app.state.engine.connect() as conn:
        counted = month_ratings(conn, "s1", day)
        trend = ratings_trend(conn, "s1", day)
    assert [p for p, _ in counted.by_period] == ["breakfast", "lunch", "afternoon"]  # by time, not by name
    assert {d.names["ru"]: (d.tally.average, d.tally.count) for d in counted.by_dish} == {
        "Каша": (4.0, 2),
        "Суп": (3.0, 1),
    }
    assert counted.unplanned == 1  # the afternoon snack had no set meal
    assert len(trend) == 12 and trend[-1][0] == day.replace(day=1) and trend[-1][2] == 3
    assert trend[-2][1:] == (2.0, 1) and trend[0][1:] == (None, 0)
    page = text_of(office.get("/ratings").text)
    assert page.index("завтрак") < page.index("обед") < page.index("afternoon")


def test_the_meals_report_says_the_months_average_and_how_many_rated(office: Office) -> None:
    rate_the_day(office)
    month = today().strftime("%Y-%m")
    with office.app.state.engine.begin() as conn:
        set_comment_hidden(conn, "s1", rating_id(office.app, RUDE), True, actor="account:x")  # its stars count
        content = meals_report(conn, "s1", month)
        empty = meals_report(conn, "s2", month)
    assert content["rating"] == {"average": 3.5, "count": 4}
    assert "rating" not in empty  # a month without ratings: its content as it always was
    MealsReport.model_validate(content)
    files = render(content, language="ru")
    assert json.loads(files["meals.json"])["rating"] == {"average": 3.5, "count": 4}
    rating_csv = list(csv.reader(io.StringIO(files["meals-rating.csv"].decode("utf-8-sig"))))
    assert rating_csv == [["Месяц", "Средняя оценка (от 1 до 5 звёзд)", "Число оценок"], [month, "3.5", "4"]]
    assert "meals-rating.csv" not in render(empty, language="ru")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(files["meals.xlsx"]))
    title = [[c for c in row if c is not None] for row in book.worksheets[0].iter_rows(values_only=True)]
    assert ["Средняя оценка (от 1 до 5 звёзд)", 3.5] in title and ["Число оценок", 4] in title


def test_a_new_rating_moves_the_mark_of_the_months_meals_report(office: Office) -> None:
    from cloud_api.reports.marks import inputs_mark

    with office.app.state.engine.begin() as conn:
        serve_lunch_today(conn, "s1")
    ingest_meals(office.client, [(office.id(CHILD), "lunch", datetime.now(LOCAL_TZ))])
    month = today().strftime("%Y-%m")
    with office.app.state.engine.connect() as conn:
        before = inputs_mark(conn, "s1", month, "meals")
    with office.app.state.engine.begin() as conn:
        rate_meal(conn, "s1", office.id(CHILD), office.id(MOTHER), today(), "lunch", 4, None)
    with office.app.state.engine.connect() as conn:
        assert inputs_mark(conn, "s1", month, "meals") != before  # the hourly job drafts the report again


def test_a_rating_after_an_issue_makes_a_new_version_that_says_what_changed(office: Office) -> None:
    from cloud_api.reports.issue import issue_report

    rate_the_day(office)
    month = today().strftime("%Y-%m")
    with office.app.state.engine.begin() as conn:
        first = issue_report(conn, "s1", month, "meals")
        same = issue_report(conn, "s1", month, "meals")
        set_comment_hidden(conn, "s1", rating_id(office.app, RUDE), True, actor="account:x")
        hidden = issue_report(conn, "s1", month, "meals")  # hiding words changes no figure
        rate_meal(conn, "s1", office.id(OTHER_CHILD), office.id(FATHER), today(), "lunch", 1, None)  # 4 → 1 star
        second = issue_report(conn, "s1", month, "meals")
    assert first.new and not same.new and not hidden.new
    assert second.new and second.version == first.version + 1
    assert {(c["field"], c["before"], c["after"]) for c in second.changes} == {("rating.average", 3.5, 2.75)}


def test_a_months_comments_come_a_page_at_a_time_the_month_kept(office: Office) -> None:
    day = today()
    with office.app.state.engine.begin() as conn:
        conn.execute(
            insert(meal_ratings),
            [
                {
                    "school_id": "s1",
                    "child_id": uuid.uuid4(),
                    "day": day,
                    "period": "lunch",
                    "guardian_id": uuid.uuid4(),
                    "stars": 1 + n % 5,
                    "comment": f"отзыв номер {n:02d}",
                    "at": datetime.now(UTC) + timedelta(seconds=n),
                    "id": uuid.uuid4(),
                }
                for n in range(35)
            ],
        )
    first = text_of(office.get("/ratings").text)
    assert "Комментарии (35)" in first and "отзыв номер 34" in first and "отзыв номер 04" not in first
    assert "Страница 1 из 2" in first
    second = office.get("/ratings", month=day.strftime("%Y-%m"), page="2")
    assert "отзыв номер 04" in text_of(second.text) and "отзыв номер 34" not in text_of(second.text)
    assert f'href="/office/schools/s1/ratings?month={day.strftime("%Y-%m")}" rel="prev">← ' in second.text  # the pager
    past_the_end = text_of(office.get("/ratings", page="9").text)
    assert "Страница 2 из 2" in past_the_end and "отзыв номер 00" in past_the_end
