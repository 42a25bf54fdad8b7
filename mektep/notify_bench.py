"""``mektep bench notify``: a 3,000-student school's morning rush, from the turnstile to the parents' phones.

Real processes and real protocols: EM4100 readers on pseudo-terminals → a ``mektep gateway run``
→ a ``mektep cloud serve`` (its own push workers) → Web Push, encrypted and VAPID-signed, to the
push simulator in this process, which decrypts every message as a phone would. Each child has one
guardian with one or two devices, and consent.

- ``push_p50_s`` / ``push_p95_s``: from a card presented at a reader to its notice decrypted on a
  guardian's device, over the rush (every student enters, spread evenly over ``rush_s``);
- ``pushes_per_s``: the cloud's push capacity: the afternoon's exits of every student arrive at
  once (a gateway's backlog after an outage) and the rate at which their notices reach the phones;
- ``wallet_records_per_s``: lunch: every student's lunch reaches the cloud at once, and the cloud's
  own Social Wallet worker sends each free or discounted one to the Wallet simulator (receipt
  verified and kept); records per second until the Wallet holds them all.
- ``absence_notices_s``: from the not-arrived deadline to the last notice decrypted, 5 % of the
  students without an entry (:mod:`mektep.absence_bench`).
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import guardianships, people, push_subscriptions
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.cards import assign_card
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from mektep.absence_bench import bench_absence_notices
from mektep.processes import CloudProcess, GatewayProcess, write_site
from shared.contract import INGEST_PATH, CredentialKind, credential_hash, signed_headers
from shared.localtime import LOCAL_TZ
from simulators.nedb_export import nedb_rows
from simulators.push_service import PushServiceServer
from simulators.serial_reader import SerialReaderSim
from simulators.social_wallet import WalletServer

__all__ = ["bench_notify"]

SCHOOL, GATEWAY = "notify-school", "gw-notify"


def _prepare(
    database_url: str, students: int, card_key: bytes, service: PushServiceServer, seed: int
) -> tuple[dict[str, str], int]:
    """The school in the cloud: roster, cards, consent, one or two devices per guardian.

    Returns each child's card (by person id) and how many notices one tap of every child makes.
    """
    rng = random.Random(seed)
    engine = make_engine(database_url)
    cards: dict[str, str] = {}
    with engine.begin() as conn:
        import_roster(conn, SCHOOL, parse_rows(nedb_rows(students, seed)), actor="bench")
        links = conn.execute(select(guardianships.c.guardian_id, guardianships.c.child_id)).all()
        pupils = conn.execute(select(people.c.id).where(people.c.role == "student")).scalars().all()
        for i, child in enumerate(pupils):
            card = f"{0xB0000000 + i:010X}"
            cards[str(child)] = card
            assign_card(conn, SCHOOL, child, CredentialKind.EM4100, credential_hash(card_key, card), actor="bench")
        devices = []
        per_guardian = {guardian: rng.choice((1, 2)) for guardian, _ in links}
        for guardian, child in links:
            set_consent(conn, SCHOOL, child, guardian, True, actor="bench")
        for guardian, count in per_guardian.items():
            for _ in range(count):
                sub = service.state.new_device().subscription(service.url)
                devices.append(
                    {
                        "id": uuid.uuid4(),
                        "school_id": SCHOOL,
                        "guardian_id": guardian,
                        "account_id": uuid.uuid4(),
                        "endpoint": sub["endpoint"],
                        "p256dh": sub["keys"]["p256dh"],
                        "auth": sub["keys"]["auth"],
                        "created_at": datetime.now(UTC),
                    }
                )
        conn.execute(insert(push_subscriptions), devices)
    engine.dispose()
    return cards, sum(per_guardian[guardian] for guardian, _ in links)


def _rush(readers: list[SerialReaderSim], cards: list[str], rush_s: float) -> dict[str, float]:
    """Every card presented once, spread evenly over ``rush_s`` across the readers; when each was."""
    tapped: dict[str, float] = {}
    lock = threading.Lock()

    def door(reader: SerialReaderSim, mine: list[str], offset: float) -> None:
        start = time.perf_counter() + offset
        step = rush_s / max(1, len(mine))
        for n, card in enumerate(mine):
            time.sleep(max(0.0, start + n * step - time.perf_counter()))
            at = reader.present(card)
            with lock:
                tapped[card] = at
            reader.next_feedback(5.0)

    share = [cards[i :: len(readers)] for i in range(len(readers))]
    threads = [
        threading.Thread(target=door, args=(r, mine, i * rush_s / max(1, len(cards))), daemon=True)
        for i, (r, mine) in enumerate(zip(readers, share, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tapped


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _exit(seq: int, child: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "school_id": SCHOOL,
        "gateway_id": GATEWAY,
        "device_id": "door-out",
        "kind": "exit",
        "person_id": child,
        "decision": "granted",
        "reason": "on_roster",
        "occurred_at": (now - timedelta(seconds=1)).isoformat(),
    }


def _lunch(seq: int, child: str, category: str, now: datetime) -> dict[str, Any]:
    price = {"free": 0, "discounted": 35000}.get(category, 70000)
    meal = {"period": "lunch", "category": category, "dishes": ["Палау", "Нан"], "price_tiyn": price}
    return {**_exit(seq, child, now), "device_id": "canteen-1", "kind": "meal", "meal": meal}


def _post_events(cloud_url: str, key: str, events: list[dict[str, Any]]) -> None:
    """As a gateway's backlog arrives after an outage: signed batches of 500."""
    now = datetime.now(UTC).isoformat()
    with httpx.Client(base_url=cloud_url, timeout=60) as client:
        for start in range(0, len(events), 500):
            body = json.dumps({"gateway_id": GATEWAY, "sent_at": now, "events": events[start : start + 500]}).encode()
            headers = signed_headers(key.encode(), GATEWAY, "POST", INGEST_PATH, body, str(int(time.time())))
            client.post(INGEST_PATH, content=body, headers={**headers, "Content-Type": "application/json"})


def _categories(database_url: str) -> dict[str, str]:
    """Each student's meal category, as the roster import settled it."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(people.c.id, people.c.meal_category).where(people.c.role == "student")).all()
    engine.dispose()
    return {str(person): str(category or "paid") for person, category in rows}


def _wait(service: PushServiceServer, count: int, timeout_s: float) -> None:
    service.state.wait_for(lambda got: len(got) >= count, timeout_s)


def bench_notify(students: int = 3000, rush_s: float = 120.0, readers: int = 4, seed: int = 2026) -> dict[str, Any]:
    """Run the rush and the burst once; the figures."""
    with (
        tempfile.TemporaryDirectory(prefix="mektep-bench-notify-") as tmp,
        PushServiceServer() as service,
        WalletServer() as wallet,
    ):
        work = Path(tmp)
        cloud = CloudProcess(work / "cloud")
        cloud.allow_push_service(service.url)
        cloud.env.update(
            {
                "MEKTEP_CLOUD_SOCIAL_WALLET_URL": wallet.url,
                "MEKTEP_CLOUD_SOCIAL_WALLET_PUBLIC_KEY": wallet.public_key_text,
                "MEKTEP_CLOUD_SOCIAL_WALLET_INTERVAL_S": "0.2",
            }
        )
        doors = [SerialReaderSim(work / f"ttyDOOR{i}", seed=i) for i in range(readers)]
        env = write_site(
            work / "gw" / "site.yaml",
            school_id=SCHOOL,
            gateway_id=GATEWAY,
            cloud_url=cloud.url,
            data_dir=work / "gw" / "data",
            mqtt_port=None,
            terminals=[],
            readers=[
                {
                    "id": f"door-{i}",
                    "framing": "em4100",
                    "port": str(d.link),
                    "direction": "entry",
                    "repeat_suppress_s": 0,
                }
                for i, d in enumerate(doors)
            ],
        )
        gateway = GatewayProcess(work / "gw" / "site.yaml", env)
        try:
            cloud.register_gateway(GATEWAY, SCHOOL, env["MEKTEP_GATEWAY_KEY"])
            card_key = env["MEKTEP_CREDENTIAL_KEY"].encode()
            cards, notices = _prepare(cloud.database_url, students, card_key, service, seed)
            cloud.start_and_wait()
            gateway.start_and_wait()
            gateway.wait_for_roster(120)

            card_of = dict(cards)
            tapped = _rush(doors, list(card_of.values()), rush_s)
            _wait(service, notices, timeout_s=120)
            arrived = list(service.state.arrived)
            latencies = [a.at - tapped[card_of[a.payload["tag"].split(":")[0]]] for a in arrived]

            before = len(service.state.arrived)
            started = time.perf_counter()
            now = datetime.now(UTC).astimezone(LOCAL_TZ)
            exits = [_exit(10_000_000 + i, child, now) for i, child in enumerate(card_of)]
            _post_events(cloud.url, env["MEKTEP_GATEWAY_KEY"], exits)
            _wait(service, before + notices, timeout_s=300)
            burst = service.state.arrived[before:]
            seconds = (burst[-1].at - started) if burst else float("inf")

            categories = _categories(cloud.database_url)
            lunch = [_lunch(20_000_000 + i, c, categories[c], now) for i, c in enumerate(card_of)]
            owed = sum(categories[c] in ("free", "discounted") for c in card_of)
            started = time.perf_counter()
            _post_events(cloud.url, env["MEKTEP_GATEWAY_KEY"], lunch)
            deadline = time.monotonic() + 300
            while len(wallet.state.accepted) < owed and time.monotonic() < deadline:
                time.sleep(0.05)
            wallet_s = time.perf_counter() - started
            absences = bench_absence_notices(cloud.database_url, SCHOOL, GATEWAY, service, seed)
        finally:
            gateway.stop()
            cloud.stop()
            for d in doors:
                d.close()
        return {
            "push_p50_s": round(_percentile(latencies, 0.50), 3),
            "push_p95_s": round(_percentile(latencies, 0.95), 3),
            "pushes_per_s": round(len(burst) / seconds, 1),
            "wallet_records_per_s": round(len(wallet.state.accepted) / wallet_s, 1),
            "wallet_records": len(wallet.state.accepted),
            "students": students,
            "devices": len(service.state.devices),
            "rush_pushes": len(latencies),
            "burst_pushes": len(burst),
            "refused_by_push_service": len(service.state.refused),
            **absences,
        }
