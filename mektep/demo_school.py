"""The demo's school in the cloud before the morning starts: what an admin and the NEDB would have set up.

A generated NEDB roster (students, their guardians, staff), a card for every student and staff
member, nine families in ten consenting, today's lunch open around now with its set meal, the
school placed in a region, and two accounts to sign in with: the school admin (reports, roster)
and the first child's guardian (the parent app).
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import guardianships, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, create_school_admin, grant_role
from cloud_api.services.cards import assign_card
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from cloud_api.services.schools import place_school
from shared.contract import CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from simulators.nedb_export import nedb_rows
from simulators.serial_reader import random_card

__all__ = ["DemoSchool", "seed_school"]

REGION = "almaty"
LUNCH_TIYN = 70000


@dataclass(frozen=True)
class DemoSchool:
    """What the morning needs (the cards) and what a visitor signs in with."""

    cards: list[str]
    admin_login: str
    guardian_login: str
    password: str


def seed_school(database_url: str, school_id: str, students: int, card_key: bytes, rng: random.Random) -> DemoSchool:
    """Set the school up in the cloud database at ``database_url`` (migrated first)."""
    upgrade(database_url)
    engine = make_engine(database_url)
    password = secrets.token_urlsafe(9)
    try:
        with engine.begin() as conn:
            import_roster(conn, school_id, parse_rows(nedb_rows(students)), actor="demo")
            place_school(conn, school_id, "№ 1 мектеп-лицей (demo)", REGION)
            cards = _cards(conn, school_id, card_key, rng)
            guardian = _consents(conn, school_id, rng)
            _open_lunch(conn, school_id)
            create_school_admin(conn, f"admin@{school_id}.kz", password, school_id, actor=SYSTEM)
            phone = conn.execute(select(people.c.phone).where(people.c.id == guardian)).scalar_one()
            account = create_account(
                conn, phone, actor=SYSTEM, password=password, school_id=school_id, person_id=guardian
            )
            grant_role(conn, account.id, Role.GUARDIAN, school_id, actor=SYSTEM)
    finally:
        engine.dispose()
    return DemoSchool(cards=cards, admin_login=f"admin@{school_id}.kz", guardian_login=phone, password=password)


def _cards(conn: Connection, school_id: str, card_key: bytes, rng: random.Random) -> list[str]:
    """A new EM4100 card for every student and staff member; the card numbers, for the readers."""
    p = people.c
    cards = []
    tappers = select(p.id).where(p.school_id == school_id, p.role.in_(("student", "staff")))
    for person in conn.execute(tappers).scalars().all():
        cards.append(card := random_card(rng))
        assign_card(conn, school_id, person, CredentialKind.EM4100, credential_hash(card_key, card), actor="demo")
    return cards


def _consents(conn: Connection, school_id: str, rng: random.Random) -> UUID:
    """Nine families in ten consent (the first always); the first family's guardian."""
    g = guardianships.c
    families = conn.execute(
        select(g.child_id, g.guardian_id).where(g.school_id == school_id).order_by(g.child_id)
    ).all()
    for n, (child, guardian) in enumerate(families):
        if n == 0 or rng.random() < 0.9:
            set_consent(conn, school_id, UUID(str(child)), UUID(str(guardian)), True, actor="demo")
    return UUID(str(families[0][1]))


def _open_lunch(conn: Connection, school_id: str) -> None:
    """Lunch from a minute ago for an hour (not across midnight), and today's plov at 700 ₸."""
    now = datetime.now(LOCAL_TZ)
    starts, ends = (now - timedelta(minutes=1)).time(), (now + timedelta(hours=1)).time()
    if starts > ends:
        starts, ends = now.replace(hour=0, minute=0).time(), now.replace(hour=23, minute=59).time()
    set_meal_rules(
        conn, school_id, MealRules(periods=[MealPeriod(name="lunch", starts=starts, ends=ends)]), actor="demo"
    )
    plov = Dish(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{school_id}/plov"),
        names={"kk": "Палау", "ru": "Плов"},
        price_tiyn=LUNCH_TIYN,
    )
    upsert_dish(conn, school_id, plov, actor="demo")
    set_day_menu(
        conn,
        school_id,
        SetMeal(day=now.date(), period="lunch", dish_ids=[plov.id], price_tiyn=LUNCH_TIYN),
        actor="demo",
    )
