"""The school's roster as the gateway holds it: on disk for restarts, in memory for decisions.

The cloud sends versioned deltas (:class:`~shared.roster_contract.RosterDelta`). :func:`apply`
writes one into the gateway database in a single transaction and answers the new
:class:`RosterIndex`, built from the tables, that the policy decides by. A delta that does not
follow the version held (``since`` ≠ held version, unless it is full) is refused and the old roster
stays, on disk and in memory: a decision is never made on half a roster.

Rows are kept as the contract's JSON, one table per entity, keyed as the contract keys them; the
held version and the meal rules live in ``roster_meta``. Like the outbox, this runs on the storage
thread (:class:`gateway.storage.Storage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from uuid import UUID

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlite_utils import Migrations

from shared.contract import Category
from shared.roster_contract import Dish, MealPeriod, MealRules, RosterCredential, RosterDelta, RosterPerson, SetMeal
from shared.wallet_qr import load_public_key

__all__ = ["CardEntry", "RosterIndex", "RosterRefused", "apply", "load_index", "migrate", "parse_delta"]

migrations = Migrations("mektep-gateway-roster")


@migrations()
def m001_roster(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE roster_people (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    db.execute("CREATE TABLE roster_credentials (credential_hash TEXT PRIMARY KEY, body TEXT NOT NULL)")
    db.execute("CREATE TABLE roster_dishes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE roster_menu (day TEXT NOT NULL, period TEXT NOT NULL, body TEXT NOT NULL, "
        "PRIMARY KEY (day, period))"
    )
    db.execute("CREATE TABLE roster_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def migrate(db: sqlite_utils.Database) -> None:
    """Create or upgrade the roster tables."""
    migrations.apply(db)


class RosterRefused(ValueError):
    """A delta that cannot be applied; the roster held stays as it was."""


@dataclass(frozen=True, slots=True)
class CardEntry:
    """What a card hash stands for."""

    person_id: str
    blocked: bool


@dataclass(frozen=True)
class RosterIndex:
    """Everything a decision needs, in memory. Immutable: a new delta makes a new index."""

    school_id: str | None = None
    version: int = 0
    people: dict[str, RosterPerson] = field(default_factory=dict)
    cards: dict[str, CardEntry] = field(default_factory=dict)
    rules: MealRules | None = None
    dishes: dict[UUID, Dish] = field(default_factory=dict)
    menu: dict[tuple[date, str], SetMeal] = field(default_factory=dict)
    # The Social Wallet's dynamic QR: whose voucher is whose (voucher id → person id), and the key
    # its codes verify with (None: the cloud sent none, and every Wallet code is refused).
    vouchers: dict[UUID, str] = field(default_factory=dict)
    wallet_key: Ed25519PublicKey | None = None
    # The roster contract of the snapshot held; None: received by a release that did not record it.
    contract: int | None = None

    @property
    def synced(self) -> bool:
        """True once any roster was received: before, nothing can be judged."""
        return self.version > 0

    def period_at(self, at: time) -> MealPeriod | None:
        """The meal period a local time of day falls in, if any."""
        if self.rules is None:
            return None
        for period in self.rules.periods:
            if period.starts <= at < period.ends:
                return period
        return None

    def free_in(self, period: str) -> bool:
        """Whether free and discounted meals apply in ``period``."""
        return self.rules is not None and period in self.rules.free_periods

    def eligible(self, person_id: str) -> Category | None:
        """The person's meal category, None when they have no school meals."""
        person = self.people.get(person_id)
        return None if person is None else person.meal_category


def parse_delta(body: bytes | str) -> RosterDelta:
    """Validate a delta from the cloud; ``RosterRefused`` naming the first bad field."""
    try:
        return RosterDelta.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RosterRefused(f"malformed roster delta: {where}: {first['msg']}") from exc


def _held(db: sqlite_utils.Database) -> tuple[str | None, int]:
    rows = dict(db.execute("SELECT key, value FROM roster_meta WHERE key IN ('school_id', 'version')").fetchall())
    return rows.get("school_id"), int(rows.get("version", 0))


def apply(db: sqlite_utils.Database, delta: RosterDelta, school_id: str) -> RosterIndex:
    """Apply ``delta`` in one transaction and return the index of the roster now held."""
    if delta.school_id != school_id:
        raise RosterRefused(f"a roster of school {delta.school_id!r} sent to a gateway of {school_id!r}")
    _, version = _held(db)
    if not delta.full and delta.since != version:
        raise RosterRefused(f"a delta since version {delta.since} does not apply to version {version}")
    conn = db.conn
    with db.atomic():
        if delta.full:
            for table in ("roster_people", "roster_credentials", "roster_dishes", "roster_menu", "roster_meta"):
                conn.execute(f"DELETE FROM {table}")  # fixed table names, never input
        conn.executemany(
            "INSERT OR REPLACE INTO roster_people (id, body) VALUES (?, ?)",
            [(str(p.id), p.model_dump_json()) for p in delta.people],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO roster_credentials (credential_hash, body) VALUES (?, ?)",
            [(c.credential_hash, c.model_dump_json()) for c in delta.credentials],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO roster_dishes (id, body) VALUES (?, ?)",
            [(str(d.id), d.model_dump_json()) for d in delta.dishes],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO roster_menu (day, period, body) VALUES (?, ?, ?)",
            [(m.day.isoformat(), m.period, m.model_dump_json()) for m in delta.menu],
        )
        meta = {"school_id": delta.school_id, "version": str(delta.version)}
        if delta.full:  # a delta keeps the snapshot's contract: what it lacks, the next full pull brings
            meta["contract"] = str(delta.contract)
        if delta.meal_rules is not None:
            meta["meal_rules"] = delta.meal_rules.model_dump_json()
        if delta.wallet_public_key is not None:
            meta["wallet_public_key"] = delta.wallet_public_key
        conn.executemany("INSERT OR REPLACE INTO roster_meta (key, value) VALUES (?, ?)", list(meta.items()))
    return load_index(db)


def load_index(db: sqlite_utils.Database) -> RosterIndex:
    """Build the in-memory index from the roster tables (at start-up and after every apply)."""
    meta = dict(db.execute("SELECT key, value FROM roster_meta").fetchall())
    people = {
        row[0]: RosterPerson.model_validate_json(row[1]) for row in db.execute("SELECT id, body FROM roster_people")
    }
    cards = {}
    for credential_hash, body in db.execute("SELECT credential_hash, body FROM roster_credentials"):
        credential = RosterCredential.model_validate_json(body)
        cards[credential_hash] = CardEntry(str(credential.person_id), credential.blocked)
    dishes = {UUID(i): Dish.model_validate_json(body) for i, body in db.execute("SELECT id, body FROM roster_dishes")}
    menu = {}
    for (body,) in db.execute("SELECT body FROM roster_menu"):
        set_meal = SetMeal.model_validate_json(body)
        menu[(set_meal.day, set_meal.period)] = set_meal
    rules = MealRules.model_validate_json(meta["meal_rules"]) if "meal_rules" in meta else None
    vouchers = {p.wallet_voucher_id: str(p.id) for p in people.values() if p.wallet_voucher_id is not None}
    return RosterIndex(
        school_id=meta.get("school_id"),
        version=int(meta.get("version", 0)),
        people=people,
        cards=cards,
        rules=rules,
        dishes=dishes,
        menu=menu,
        vouchers=vouchers,
        wallet_key=_wallet_key(meta.get("wallet_public_key")),
        contract=int(meta["contract"]) if "contract" in meta else None,
    )


def _wallet_key(text: str | None) -> Ed25519PublicKey | None:
    # A key the cloud sent garbled is no key: every Wallet code is then refused, and the rest works.
    if not text:
        return None
    try:
        return load_public_key(text)
    except ValueError:
        return None
