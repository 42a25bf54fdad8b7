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
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pyotp
from sqlalchemy import Connection, select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import guardianships, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Account, Role, create_account, create_school_admin, grant_role
from cloud_api.services.canteen_pins import set_canteen_pin
from cloud_api.services.cards import assign_card
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from cloud_api.services.roster_sync import roster_names
from cloud_api.services.schools import place_school
from cloud_api.services.second_factor import Enrolment, begin_totp, confirm_totp
from shared.contract import CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import Dish, MealPeriod, MealRules, SetMeal
from simulators.nedb_export import nedb_rows
from simulators.serial_reader import random_card

__all__ = ["DemoAccount", "DemoSchool", "seed_school"]

REGION = "almaty"
LUNCH_TIYN = 70000


@dataclass(frozen=True)
class DemoAccount:
    """One account a visitor signs in with: its login and password, and its authenticator when the demo set it up."""

    login: str
    password: str
    authenticator: Enrolment | None = None


@dataclass(frozen=True)
class DemoSchool:
    """What the morning needs (the cards) and what a visitor signs in with."""

    cards: list[str]
    region: str
    admin: DemoAccount
    secretary: DemoAccount
    cook: DemoAccount
    analyst: DemoAccount
    guardian: DemoAccount
    student: DemoAccount  # the guardian's child: the student's own pages
    cook_name: str  # as the canteen screen lists the staff who may serve a child by hand
    canteen_pin: str


def seed_school(database_url: str, school_id: str, students: int, card_key: bytes, rng: random.Random) -> DemoSchool:
    """Set the school up in the cloud database at ``database_url`` (migrated first)."""
    upgrade(database_url)
    engine = make_engine(database_url)
    # One password for every account: a visitor trying each door has one thing less to copy.
    password = secrets.token_urlsafe(9)
    pin = f"{secrets.randbelow(10_000):04d}"
    try:
        with engine.begin() as conn:
            import_roster(conn, school_id, parse_rows(nedb_rows(students)), actor="demo")
            place_school(conn, school_id, "№ 1 мектеп-лицей (demo)", REGION)
            cards = _cards(conn, school_id, card_key, rng)
            guardian, child = _consents(conn, school_id, rng)
            _open_lunch(conn, school_id)
            admin = create_school_admin(conn, f"admin@{school_id}.kz", password, school_id, actor=SYSTEM)
            authenticator = _set_up_authenticator(conn, admin)
            secretary = create_school_admin(conn, f"secretary@{school_id}.kz", password, school_id, actor=SYSTEM)
            cook_person = _first_staff_member(conn, school_id)
            cook = create_account(
                conn,
                f"cook@{school_id}.kz",
                actor=SYSTEM,
                password=password,
                school_id=school_id,
                person_id=cook_person,
            )
            grant_role(conn, cook.id, Role.CANTEEN_STAFF, school_id, actor=SYSTEM)
            set_canteen_pin(conn, school_id, cook_person, pin, actor="demo")
            analyst = create_account(conn, f"analyst@{REGION}.kz", actor=SYSTEM, password=password)
            grant_role(conn, analyst.id, Role.REGION, REGION, actor=SYSTEM)
            phone = conn.execute(select(people.c.phone).where(people.c.id == guardian)).scalar_one()
            account = create_account(
                conn, phone, actor=SYSTEM, password=password, school_id=school_id, person_id=guardian
            )
            grant_role(conn, account.id, Role.GUARDIAN, school_id, actor=SYSTEM)
            student = create_account(
                conn, f"student@{school_id}.kz", actor=SYSTEM, password=password, school_id=school_id, person_id=child
            )
            grant_role(conn, student.id, Role.STUDENT, school_id, actor=SYSTEM)
            cook_name = roster_names(conn, school_id)[cook_person]
    finally:
        engine.dispose()
    return DemoSchool(
        cards=cards,
        region=REGION,
        admin=DemoAccount(admin.login, password, authenticator),
        secretary=DemoAccount(secretary.login, password),
        cook=DemoAccount(cook.login, password),
        analyst=DemoAccount(analyst.login, password),
        guardian=DemoAccount(account.login, password),
        student=DemoAccount(student.login, password),
        cook_name=cook_name,
        canteen_pin=pin,
    )


def _set_up_authenticator(conn: Connection, account: Account) -> Enrolment:
    """Enrol and confirm an authenticator for ``account``, as its first sign-in would; the secret, to print."""
    now = datetime.now(UTC)
    enrolment = begin_totp(conn, account.id, account.login, now)
    # Confirmed with the code of the step before now: a code works once, and the visitor's first code
    # (or a test's, right away) is of this step, which must still be good.
    totp = pyotp.TOTP(enrolment.secret)
    earlier = totp.at(now - timedelta(seconds=totp.interval))
    codes = confirm_totp(conn, account.id, earlier, now, actor=SYSTEM, school_id=account.school_id)
    if codes is None:
        raise RuntimeError("the demo's own authenticator code was refused")
    return enrolment


def _first_staff_member(conn: Connection, school_id: str) -> UUID:
    """The staff member who plays the cook: the first by name (the generated roster always has one)."""
    p = people.c
    first = select(p.id).where(p.school_id == school_id, p.role == "staff").order_by(p.last_name, p.first_name)
    return UUID(str(conn.execute(first.limit(1)).scalar_one()))


def _cards(conn: Connection, school_id: str, card_key: bytes, rng: random.Random) -> list[str]:
    """A new EM4100 card for every student and staff member; the card numbers, for the readers."""
    p = people.c
    cards = []
    tappers = select(p.id).where(p.school_id == school_id, p.role.in_(("student", "staff")))
    for person in conn.execute(tappers).scalars().all():
        cards.append(card := random_card(rng))
        assign_card(conn, school_id, person, CredentialKind.EM4100, credential_hash(card_key, card), actor="demo")
    return cards


def _consents(conn: Connection, school_id: str, rng: random.Random) -> tuple[UUID, UUID]:
    """Nine families in ten consent (the first always); the first family's guardian and child."""
    g = guardianships.c
    families = conn.execute(
        select(g.child_id, g.guardian_id).where(g.school_id == school_id).order_by(g.child_id)
    ).all()
    for n, (child, guardian) in enumerate(families):
        if n == 0 or rng.random() < 0.9:
            set_consent(conn, school_id, UUID(str(child)), UUID(str(guardian)), True, actor="demo")
    return UUID(str(families[0][1])), UUID(str(families[0][0]))


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
