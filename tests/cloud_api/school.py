"""A sample school for the cloud's tests: NEDB export rows (valid IINs), two schools' people, and an
account of every role signed in over the API (:class:`World`, the ``world`` fixture of conftest.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from uuid import UUID

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from cloud_api.db.schema import people
from cloud_api.roster.iin import check_digit
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.cards import assign_card
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from shared.contract import CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from tests.cloud_api.helpers import sign_in

__all__ = [
    "ACCOUNTS",
    "CHILD",
    "FATHER",
    "GOOD",
    "HEADER",
    "MOTHER",
    "OTHER_CHILD",
    "PASSWORD",
    "S1_EXTRA",
    "S2_CHILD",
    "S2_COOK",
    "S2_ROWS",
    "TEACHER",
    "TEEN",
    "World",
    "give_cards",
    "iin",
    "lunch_around_now",
    "people_by_iin",
    "seed_world",
    "serve_lunch_today",
]


def iin(prefix: str) -> str:
    """A valid IIN: ``prefix`` (11 digits) and its check digit."""
    return prefix + str(check_digit(prefix))


CHILD = iin("15031950012")  # born 2015: grade 3 or 4
TEEN = iin("10062060034")
MOTHER = iin("88042140056")
TEACHER = iin("79121130078")
OTHER_CHILD = iin("14020350019")
FATHER = iin("85071240027")
S2_CHILD = iin("13111150031")
S2_COOK = iin("80050540043")

HEADER = [
    "role",
    "IIN",
    "Last name",
    "first_name",
    "class",
    "language",
    "meal_category",
    "discount_percent",
    "phone",
    "email",
    "children",
]
GOOD = [
    ["student", CHILD, "Нұрланова", "Әлия", "3б", "kk", "", "", "", "", ""],
    ["student", TEEN, "Иванов", "Пётр", "9 А", "ru", "discounted", "50", "", "", ""],
    ["guardian", MOTHER, "Нұрланова", "Гүлнар", "", "", "", "", "8 (701) 234-56-78", "", f"{CHILD}; {TEEN}"],
    ["staff", TEACHER, "Сейітов", "Марат", "", "ru", "", "", "", "", ""],
]
S1_EXTRA = [
    ["student", OTHER_CHILD, "Ахметов", "Дана", "4А", "kk", "", "", "", "", ""],
    ["guardian", FATHER, "Ахметов", "Ерлан", "", "", "", "", "8 (702) 111-22-33", "", OTHER_CHILD],
]
S2_ROWS = [
    ["student", S2_CHILD, "Ким", "Алина", "2В", "ru", "", "", "", "", ""],
    ["staff", S2_COOK, "Омарова", "Сая", "", "ru", "", "", "", "", ""],
]

PASSWORD = "correct horse battery"
ACCOUNTS = {
    # name: (login, school, person IIN, role)
    "head1": ("head@s1.kz", "s1", None, Role.SCHOOL_ADMIN),
    "cook1": ("cook@s1.kz", "s1", TEACHER, Role.CANTEEN_STAFF),
    "cook2": ("cook@s2.kz", "s2", S2_COOK, Role.CANTEEN_STAFF),
    "mother": ("8 (701) 234-56-78", "s1", MOTHER, Role.GUARDIAN),
    "father": ("father@mail.kz", "s1", FATHER, Role.GUARDIAN),
}


@dataclass
class World:
    """Two schools, two families in s1, accounts for each role, and their ids."""

    client: TestClient
    app: FastAPI
    ids: dict[str, UUID]  # IIN or account name → id
    signed_in: dict[str, dict[str, str]] = field(default_factory=dict)  # a test's own sessions, by name

    def token(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        """Sign in over the API (staff with their authenticator's code); the Authorization header of the session."""
        return sign_in(self.client, login, password)


def seed_world(client: TestClient, app: FastAPI) -> World:
    """Two schools' rosters, and an account of each role of ``ACCOUNTS``."""
    ids: dict[str, UUID] = {}
    with app.state.engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor="admin")
        import_roster(conn, "s2", parse_rows([HEADER, *S2_ROWS]), actor="admin")
        for iin_, person_id in conn.execute(select(people.c.iin, people.c.id)):
            ids[iin_] = person_id
        for name, (login, school, person, role) in ACCOUNTS.items():
            account = create_account(
                conn,
                login,
                actor=SYSTEM,
                password=PASSWORD,
                school_id=school,
                person_id=ids[person] if person else None,
            )
            grant_role(conn, account.id, role, school, actor=SYSTEM)
            ids[name] = account.id
    return World(client, app, ids)


def people_by_iin(conn: Connection) -> dict[str, UUID]:
    """Every person of the database by IIN."""
    return {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}


def give_cards(conn: Connection, school_id: str, cards: dict[UUID, str], card_key: bytes) -> None:
    """Give each person (by id) the EM4100 card number beside them, hashed with the gateways' key."""
    for person, card in cards.items():
        assign_card(conn, school_id, person, CredentialKind.EM4100, credential_hash(card_key, card), actor="admin")


def lunch_around_now(now: datetime | None = None) -> MealPeriod:
    """A lunch period from an hour before ``now`` to an hour after, kept within the local day."""
    now = now or datetime.now(LOCAL_TZ)
    return MealPeriod(
        name="lunch",
        starts=(now - timedelta(hours=1)).time() if now.hour >= 1 else clock(0, 0),
        ends=(now + timedelta(hours=1)).time() if now.hour < 22 else clock(23, 59, 59),
    )


def serve_lunch_today(conn: Connection, school_id: str, *, prepaid: bool = False, price_tiyn: int = 70000) -> Dish:
    """Meal rules with a lunch around now (free for those entitled), and today's set meal of one dish."""
    now = datetime.now(LOCAL_TZ)
    rules = MealRules(periods=[lunch_around_now(now)], free_periods=[] if prepaid else ["lunch"], prepaid=prepaid)
    set_meal_rules(conn, school_id, rules, actor="admin")
    plov = Dish(id=uuid.uuid4(), names={"kk": "Палау", "ru": "Плов"}, price_tiyn=price_tiyn)
    upsert_dish(conn, school_id, plov, actor="cook")
    set_day_menu(
        conn,
        school_id,
        SetMeal(day=now.date(), period="lunch", dish_ids=[plov.id], price_tiyn=price_tiyn),
        actor="cook",
    )
    return plov
