"""A school's morning through the gateway's own pipeline, and the roll call that should come of it.

:func:`morning` makes the taps of a school day up to late morning, as the load generator
(:mod:`simulators.school_month`) shapes a day: students come in over an hour, some eat breakfast, some
go out mid-morning and some of those come back, a few tap twice at the door, a few never come (they
were in yesterday and never tapped out), a few are seen only at the canteen or only tap out, unknown
cards are refused. It answers the reads and who should be on the roll call, kept apart from the code
under test: by what each person did, never by replaying the rule.

:class:`Gateway` is the part of a gateway the roll call stands on (storage, roster, pipeline) and
its pages, opened again on the same disk to stand for a restart.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from device_drivers.base import CardRead, Direction
from gateway.access import store as access_store
from gateway.access.gate import LocalAccess, session_key
from gateway.pages.roll_call import RollCall
from gateway.pages.web import create_ui_app
from gateway.roster.store import apply, load_index, migrate
from gateway.storage import Storage
from gateway.taps.outbox import Outbox
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy
from shared.contract import CredentialKind
from shared.localtime import LOCAL_TZ
from shared.pins import hash_pin
from tests.gateway.roster_factories import CARD_KEY, DAY, SCHOOL, School

__all__ = ["COOK", "PIN", "POINTS", "Gateway", "Morning", "morning", "school_of"]

PIN = "4821"
COOK = "COOK"
POINTS = {
    "in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY),
    "out-1": AccessPoint("out-1", Place.TURNSTILE, Direction.EXIT),
    "canteen-1": AccessPoint("canteen-1", Place.CANTEEN),
}
SURNAMES = [
    "Абаев", "Әбенов", "Ахметов", "Әлиев", "Байжанов", "Бекова", "Болатов", "Ғабитов", "Гусева", "Дәулетов",
    "Демченко", "Ерланов", "Есенова", "Жақыпов", "Жұмабаев", "Зайцев", "Ибраев", "Иванова", "Кенжебаев",
    "Қасымов", "Қайратова", "Козлов", "Лебедева", "Мұратов", "Морозов", "Нұрланова", "Новикова", "Ниязов",
    "Оспанов", "Өмірзақов", "Петров", "Рахимова", "Сәрсенов", "Смирнова", "Сейітов", "Тоқаев", "Тихонова",
    "Төлеуов", "Ұлықбанов", "Үсенова", "Федоров", "Хасенов", "Һашимов", "Цой", "Чернова", "Шәріпов",
    "Шевченко", "Щербаков", "Ыбыраев", "Іскакова", "Эминов", "Юсупов", "Яковлева", "Айтбаев", "Әуезов",
    "Бақытжанов", "Ғалымова", "Қуанышев", "Нұрбеков", "Орлов",
]  # fmt: skip
FIRST_NAMES = [
    "Айгүл", "Әлия", "Алексей", "Асхат", "Бауыржан", "Дана", "Дмитрий", "Ерлан", "Әсел", "Жанар",
    "Ирина", "Қанат", "Камила", "Мария", "Мәдина", "Нұрсұлтан", "Олжас", "Өмір", "Павел", "Руслан",
    "Сәуле", "Сергей", "Томирис", "Ұлан", "Үміт", "Фариза", "Шынар", "Ілияс", "Юлия", "Ясмин",
    "Арман", "Ақбота", "Гүлнар", "Ғалым", "Дархан", "Елена", "Жасұлан", "Зарина", "Иван", "Кира",
    "Ләззат", "Мирас", "Назерке", "Ольга", "Перизат", "Роман", "Самат", "Талғат", "Тимур", "Ұлжан",
    "Фатима", "Хадиша", "Шерхан", "Эльвира", "Юрий", "Яна", "Айдос", "Ботагөз", "Вера", "Әділет",
]  # fmt: skip


def school_of(students: int, staff: int, classes: list[str]) -> School:
    """``students`` in ``classes`` (one in fifty without consent), ``staff`` and a cook who signs in
    with :data:`PIN`; every name different. Cards are ``S<n>``, ``T<n>`` and :data:`COOK`."""
    school = School()
    # Every pair of names once, neighbours different in both (3,600 people at most).
    pairs = len(SURNAMES) * len(FIRST_NAMES)
    names = iter(f"{SURNAMES[n % 60]} {FIRST_NAMES[(n // 60 + 7 * n) % 60]}" for n in range(pairs))
    for n in range(students):
        school.add(f"S{n}", display_name=next(names), class_name=classes[n % len(classes)], consent=n % 50 != 7)
    for n in range(staff):
        school.add(f"T{n}", role="staff", meal_category=None, class_name=None, display_name=next(names))
    school.add(
        COOK,
        role="staff",
        meal_category=None,
        class_name=None,
        display_name="Гүлнар Сейітқызы",
        canteen_pin_hash=hash_pin(PIN, iterations=1_000),  # few rounds: the production format, fast
    )
    return school


@dataclass
class Morning:
    """The reads of a morning in the order they happen, and who should be in at its end."""

    reads: list[CardRead] = field(default_factory=list)
    inside: dict[str, str] = field(default_factory=dict)  # card → the time of the last entry, HH:MM
    stories: dict[str, str] = field(default_factory=dict)  # card → what the person did (for messages)


def _at(day: date, hour: int, minute: int, spread_s: int, rng: random.Random) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL_TZ) + timedelta(seconds=rng.randint(0, spread_s))


def morning(school: School, *, seed: int = 1, day: date = DAY) -> Morning:
    """The morning of ``day`` until 11:45 (see the module's docstring)."""
    rng = random.Random(seed)
    m = Morning()
    yesterday = day - timedelta(days=1)

    def tap(reader: str, card: str, at: datetime) -> None:
        m.reads.append(CardRead(reader, card, CredentialKind.EM4100, at))

    for card, person in school.people.items():
        staff = person.role == "staff"
        roll = rng.random()
        if roll < (0.1 if staff else 0.08):
            m.stories[card] = "was in yesterday, never tapped out, did not come today"
            tap("in-1", card, _at(yesterday, 8, 0, 600, rng))
            continue
        if not staff and roll < 0.10:
            m.stories[card] = "only seen at the canteen"
            tap("canteen-1", card, _at(day, 8, 10, 1800, rng))
            continue
        if not staff and roll < 0.11:
            m.stories[card] = "only tapped out"
            tap("out-1", card, _at(day, 10, 0, 1800, rng))
            continue
        came = _at(day, 7, 0 if staff else 30, 3600, rng)
        tap("in-1", card, came)
        last_entry, story = came, "came"
        if rng.random() < 0.03:
            last_entry, story = came + timedelta(seconds=5), "came, tapped twice"
            tap("in-1", card, last_entry)
        if not staff and rng.random() < 0.4:
            tap("canteen-1", card, _at(day, 8, 10, 2400, rng))
            story += ", ate breakfast"
        if rng.random() < 0.15:
            tap("out-1", card, _at(day, 10, 0, 1800, rng))
            if rng.random() < 0.5:
                last_entry = _at(day, 11, 0, 1800, rng)
                tap("in-1", card, last_entry)
                story += ", went out and came back"
            else:
                m.stories[card] = story + ", went out"
                continue
        m.inside[card] = f"{last_entry.hour:02d}:{last_entry.minute:02d}"
        m.stories[card] = story
    for n in range(20):  # cards the roster does not know: refused at the door
        tap("in-1", f"STRANGER{n}", _at(day, 7, 30, 3600, rng))
    m.reads.sort(key=lambda read: read.at)
    return m


@dataclass
class Gateway:
    """A gateway's storage, roster and pipeline on ``path``, and its pages (staff sign in)."""

    path: Path
    storage: Storage
    policy: RosterPolicy
    pipeline: Pipeline
    app: FastAPI
    now: list[datetime]  # the pages' clock, moved by a test

    @classmethod
    def open(cls, path: Path, now: datetime, school: School | None = None) -> Gateway:
        """Open the gateway on ``path``: with ``school``, its roster is received first; without, the
        roster held on disk is loaded, as a restart does."""
        storage = Storage(path)
        asyncio.run(storage.open())

        def prepare(outbox: Outbox) -> RosterPolicy:
            migrate(outbox.db)
            access_store.migrate(outbox.db)
            index = apply(outbox.db, school.delta(), SCHOOL) if school is not None else load_index(outbox.db)
            return RosterPolicy(index)

        policy = asyncio.run(storage.call(prepare))
        pipeline = Pipeline(
            school_id=SCHOOL,
            gateway_id="gw1",
            credential_key=CARD_KEY,
            storage=storage,
            policy=policy,
            points=POINTS,
            feedback=lambda reader, fb: None,
        )
        clock = [now]
        access = LocalAccess(
            required=True,
            storage=storage,
            key=session_key(b"gateway-key"),
            people=lambda: policy.index.people,
            clock=lambda: clock[0],
        )
        roll_call = RollCall(
            storage=storage,
            people=lambda: policy.index.people,
            synced=lambda: policy.index.synced,
            school_name="№ 7 мектеп-гимназия",
            clock=lambda: clock[0],
        )

        async def latest(limit: int) -> list[dict[str, object]]:
            return await storage.call(lambda outbox: outbox.latest(limit))

        app = create_ui_app(
            school_name="№ 7",
            latest=latest,
            status=dict,
            registry=CollectorRegistry(),
            roll_call=roll_call,
            access=access,
        )
        return cls(path, storage, policy, pipeline, app, clock)

    def play(self, reads: list[CardRead], group: int = 512) -> None:
        """Hand the reads to the pipeline as the drivers would, ``group`` to a commit."""

        async def run() -> None:
            for start in range(0, len(reads), group):
                await self.pipeline.process(list(reads[start : start + group]))

        asyncio.run(run())

    def close(self) -> None:
        """Stop the gateway (its storage thread and database)."""
        asyncio.run(self.storage.close())
