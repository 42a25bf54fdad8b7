"""``mektep bench roster``: a 3,000-student school's roster, from the NEDB export to the turnstile.

- ``import_rows_per_s``: NEDB rows (students, their guardians, staff) validated and imported into
  the cloud's database, history and audit journal included;
- ``full_sync_s``: a new gateway's first pull over real HTTP from a ``mektep cloud serve`` process:
  the cloud builds the delta, the gateway validates it, writes it in one transaction and indexes it;
- ``delta_sync_ms``: the same after 50 people changed (consents given, a class moved);
- ``decision_p99_ms``: one tap judged (card hash and rules) with the full roster in memory, over
  a morning's mix of entries and lunches; ``baseline_decision_p99_ms`` is the same taps judged
  without a roster (``NoRosterPolicy``), measured in the same run.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
from sqlalchemy import select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import guardianships, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.cards import assign_card
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import set_meal_rules
from cloud_api.services.roster_import import import_roster
from device_drivers.base import CardRead, Direction
from gateway.roster.store import migrate
from gateway.roster.sync import RosterSync
from gateway.storage import Storage
from gateway.taps.drafts import CredentialHasher
from gateway.taps.policy import AccessPoint, NoRosterPolicy, Place, Policy
from gateway.taps.rules import RosterPolicy
from mektep.processes import CloudProcess
from shared.contract import CredentialKind, credential_hash
from shared.localtime import LOCAL_TZ
from shared.roster_contract import MealPeriod, MealRules
from simulators.nedb_export import nedb_rows

__all__ = ["bench_roster"]

SCHOOL, GATEWAY = "bench-school", "gw-bench"


def _prepare_cloud(database_url: str, rows: list[list[str]], card_key: bytes) -> tuple[float, list[str]]:
    engine = make_engine(database_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        import_roster(conn, SCHOOL, parse_rows(rows), actor="bench")
    import_rate = (len(rows) - 1) / (time.perf_counter() - started)
    cards: list[str] = []
    with engine.begin() as conn:
        tappers = conn.execute(select(people.c.id).where(people.c.role.in_(("student", "staff")))).scalars().all()
        for i, person_id in enumerate(tappers):
            card = f"{i:010X}"
            cards.append(card)
            assign_card(conn, SCHOOL, person_id, CredentialKind.EM4100, credential_hash(card_key, card), actor="bench")
        now = datetime.now(LOCAL_TZ)
        starts, ends = (now - timedelta(minutes=1)).time(), (now + timedelta(hours=1)).time()
        if starts < ends:  # the canteen is open for the decisions measured (unless it is near midnight)
            set_meal_rules(
                conn, SCHOOL, MealRules(periods=[MealPeriod(name="lunch", starts=starts, ends=ends)]), actor="bench"
            )
    engine.dispose()
    return import_rate, cards


def _change_fifty(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        links = conn.execute(select(guardianships.c.guardian_id, guardianships.c.child_id).limit(50)).all()
        for guardian_id, child_id in links:
            set_consent(conn, SCHOOL, UUID(str(child_id)), UUID(str(guardian_id)), True, actor="bench")
    engine.dispose()


async def _pull(storage: Storage, cloud_url: str, key: bytes, policy: RosterPolicy) -> float:
    sync = RosterSync(
        storage=storage,
        school_id=SCHOOL,
        gateway_id=GATEWAY,
        key=key,
        base_url=cloud_url,
        on_index=lambda index: setattr(policy, "index", index),
    )
    sync.stats.version = policy.index.version
    async with httpx.AsyncClient(base_url=cloud_url, timeout=60) as client:
        started = time.perf_counter()
        applied = await sync.pull(client)
        elapsed = time.perf_counter() - started
    if not applied:
        raise RuntimeError(f"the roster pull failed: {sync.stats.last_error}")
    return elapsed


def _decision_p99_ms(policy: Policy, cards: list[str], card_key: bytes, taps: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    hasher = CredentialHasher(card_key)
    points = [AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY), AccessPoint("canteen-1", Place.CANTEEN)]
    samples: list[float] = []
    for _ in range(taps):
        card = rng.choice(cards) if rng.random() < 0.98 else f"F{rng.randint(0, 10**8):09X}"  # some strangers
        point = rng.choice(points)
        read = CardRead(point.device_id, card, CredentialKind.EM4100, datetime.now(LOCAL_TZ))
        started = time.perf_counter_ns()
        policy.decide(read, point, hasher(read.credential))
        samples.append((time.perf_counter_ns() - started) / 1e6)
    samples.sort()
    return samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def bench_roster(students: int = 3000, taps: int = 20_000) -> dict[str, float]:
    """Run every measurement once and return the figures."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-roster-") as tmp:
        work = Path(tmp)
        cloud = CloudProcess(work / "cloud")
        key, card_key = secrets.token_hex(32), secrets.token_bytes(32)
        cloud.register_gateway(GATEWAY, SCHOOL, key)
        import_rate, cards = _prepare_cloud(cloud.database_url, nedb_rows(students), card_key)
        cloud.start_and_wait()
        try:
            policy = RosterPolicy()

            async def syncs() -> tuple[float, float]:
                storage = Storage(work / "gateway.db")
                await storage.open()
                await storage.call(lambda outbox: migrate(outbox.db))
                try:
                    full = await _pull(storage, cloud.url, key.encode(), policy)
                    await asyncio.to_thread(_change_fifty, cloud.database_url)
                    delta = await _pull(storage, cloud.url, key.encode(), policy)
                finally:
                    await storage.close()
                return full, delta

            full_s, delta_s = asyncio.run(syncs())
        finally:
            cloud.stop()
        figures = {
            "import_rows_per_s": import_rate,
            "full_sync_s": full_s,
            "delta_sync_ms": delta_s * 1000,
            "decision_p99_ms": _decision_p99_ms(policy, cards, card_key, taps),
            "baseline_decision_p99_ms": _decision_p99_ms(NoRosterPolicy(), cards, card_key, taps),
            "people_held": float(len(policy.index.people)),
        }
    return {name: round(value, 4) for name, value in figures.items()}
