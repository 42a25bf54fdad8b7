"""Measure the cloud's webhooks (for ``mektep bench integrations``): a 3,000-student school's morning.

A real ``mektep cloud serve`` (development, SQLite unless a URL is given) with its own background
webhook worker, woken by ingest; one integration client subscribed to the school's entries and
exits at a Standard Webhooks receiver in this process (uvicorn, real sockets), which verifies every
signature and dedupes on ``webhook-id``. Every student has a guardian's consent. Gateways' batches
are posted signed, as a gateway's forwarder posts them.

- ``webhook_lag_p95_s`` (and ``_p50_s``): the morning rush: every student's entry, spread evenly
  over ``rush_s``, posted in a batch every ``batch_every_s`` (as a forwarder sends what it has);
  from the post of a tap's batch to its webhook verified at the receiver;
- ``webhooks_per_s``: a gateway's backlog: every student's exit at once, in batches of 500; from
  the first post to the last webhook verified at the receiver, in order, each once.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import guardianships, people
from cloud_api.integrations.clients import create_client
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import subscribe
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.consent import set_consent
from cloud_api.services.roster_import import import_roster
from cloud_api.services.schools import place_school
from mektep.processes import CloudProcess
from mektep.timing import p95
from shared.contract import INGEST_PATH, signed_headers
from shared.localtime import LOCAL_TZ
from simulators.nedb_export import nedb_rows
from simulators.webhook_receiver import WebhookReceiverServer

__all__ = ["measure_webhooks"]

SCHOOL, GATEWAY, REGION = "webhook-school", "gw-webhooks", "bench-region"


def _prepare(database_url: str, students: int, receiver: WebhookReceiverServer, seed: int) -> list[str]:
    """The school, its consents, a client subscribed to its entries and exits; the students' ids."""
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            place_school(conn, SCHOOL, "Webhook bench school", REGION)
            import_roster(conn, SCHOOL, parse_rows(nedb_rows(students, seed)), actor="bench")
            # This school's only: the database may hold others (``mektep bench integrations`` signs
            # students of another school in first).
            theirs = select(guardianships.c.guardian_id, guardianships.c.child_id).where(
                guardianships.c.school_id == SCHOOL
            )
            for guardian, child in conn.execute(theirs).all():
                set_consent(conn, SCHOOL, child, guardian, True, actor="bench")
            enrolled = select(people.c.id).where(people.c.school_id == SCHOOL, people.c.role == "student")
            pupils = [str(p) for p in conn.execute(enrolled).scalars()]
            client, _ = create_client(
                conn, name="Bench e-diary", actor="bench", now=now, scopes=["attendance:read"], region_id=REGION
            )
            _, secret = subscribe(
                conn,
                client_id=client.client_id,
                school_id=SCHOOL,
                url=receiver.url + "/hook",
                kinds=["entry", "exit"],
                actor="bench",
                now=now,
                policy=ReceiverPolicy(development=True),
            )
        receiver.state.secrets = [secret]
        return pupils
    finally:
        engine.dispose()


def _tap(seq: int, child: str, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "school_id": SCHOOL,
        "gateway_id": GATEWAY,
        "device_id": f"door-{seq % 4}",
        "kind": kind,
        "person_id": child,
        "decision": "granted",
        "reason": "on_roster",
        "occurred_at": at.isoformat(),
    }


def _post(client: httpx.Client, key: str, events: list[dict[str, Any]]) -> None:
    body = json.dumps({"gateway_id": GATEWAY, "sent_at": datetime.now(UTC).isoformat(), "events": events}).encode()
    headers = signed_headers(key.encode(), GATEWAY, "POST", INGEST_PATH, body, str(int(time.time())))
    answer = client.post(INGEST_PATH, content=body, headers={**headers, "Content-Type": "application/json"})
    answer.raise_for_status()


def _rush(cloud_url: str, key: str, pupils: list[str], rush_s: float, every_s: float) -> dict[str, float]:
    """Every pupil's entry over ``rush_s``, a batch every ``every_s``; when each tap's batch was posted."""
    posted: dict[str, float] = {}
    per_batch = max(1, round(len(pupils) * every_s / rush_s))
    start = time.time()
    with httpx.Client(base_url=cloud_url, timeout=60) as client:
        for n, first in enumerate(range(0, len(pupils), per_batch)):
            time.sleep(max(0.0, start + n * every_s - time.time()))
            now = datetime.now(LOCAL_TZ)
            taps = [
                _tap(1 + first + i, child, "entry", now) for i, child in enumerate(pupils[first : first + per_batch])
            ]
            sent = time.time()
            _post(client, key, taps)
            for tap in taps:
                posted[tap["id"]] = sent
    return posted


def _direct_posts(receiver: WebhookReceiverServer, arrived: list[Any]) -> float:
    """The baseline: the same messages signed and posted one after another by a plain client, the
    receiver's ceiling without the cloud (each verified as the worker's are)."""
    hook = Webhook(receiver.state.secrets[0])
    bodies = [json.dumps(a.body, separators=(",", ":")) for a in arrived]
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for n, body in enumerate(bodies):
            msg_id, at = f"msg_direct_{n}", datetime.now(UTC)
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp()))}
            headers["webhook-signature"] = hook.sign(msg_id, at, body)
            client.post(receiver.url + "/hook", content=body, headers={**headers, "content-type": "application/json"})
    return round(len(bodies) / (time.perf_counter() - started), 1)


def measure_webhooks(
    students: int = 3000,
    *,
    rush_s: float = 60.0,
    batch_every_s: float = 0.25,
    database_url: str | None = None,
    seed: int = 2026,
) -> dict[str, Any]:
    """Run the rush and the backlog once against a cloud process; the figures (see the module's text)."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-webhooks-") as tmp, WebhookReceiverServer() as receiver:
        work = Path(tmp)
        cloud = CloudProcess(work / "cloud", database_url=database_url)
        cloud.env["MEKTEP_CLOUD_PUSH_WORKERS"] = "0"  # no guardian has a device here: the webhooks alone
        key = "webhook-bench-gateway-key-0123456789"
        try:
            cloud.register_gateway(GATEWAY, SCHOOL, key)
            pupils = _prepare(cloud.database_url, students, receiver, seed)
            cloud.start_and_wait()
            state = receiver.state

            posted = _rush(cloud.url, key, pupils, rush_s, batch_every_s)
            got = state.wait_for(lambda got: len(got) >= len(pupils), timeout_s=300)
            lags = [a.at - posted[a.body["data"]["event_id"]] for a in got]

            later = datetime.now(LOCAL_TZ) + timedelta(hours=6)
            exits = [_tap(100_000 + i, child, "exit", later) for i, child in enumerate(pupils)]
            started = time.time()
            done = threading.Event()

            def backlog() -> None:
                with httpx.Client(base_url=cloud.url, timeout=60) as client:
                    for first in range(0, len(exits), 500):
                        _post(client, key, exits[first : first + 500])
                done.set()

            threading.Thread(target=backlog, daemon=True).start()
            burst = state.wait_for(lambda got: len(got) >= 2 * len(pupils), timeout_s=600)[len(pupils) :]
            seconds = burst[-1].at - started
            direct = _direct_posts(receiver, burst)
        finally:
            cloud.stop()
        in_order = [a.body["data"]["event_id"] for a in burst] == [e["id"] for e in exits]
        return {
            "webhooks_per_s": round(len(burst) / seconds, 1),
            "receiver_direct_per_s": direct,
            "webhook_lag_p95_s": round(p95(lags), 3),
            "webhook_lag_p50_s": round(sorted(lags)[len(lags) // 2], 3),
            "webhooks": len(got) + len(burst),
            "webhooks_in_order": in_order,
            "refused_by_receiver": state.refused,
            "posts": state.attempts,
            "students": len(pupils),
            "rush_s": rush_s,
        }


if __name__ == "__main__":
    print(json.dumps(measure_webhooks(), indent=2))
