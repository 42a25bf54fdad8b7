"""Measure the ingest rate over real HTTP: a ``serve`` process, signed batches, N gateways at once.

The server runs as its own process (as in production) so that building and signing the batches
does not share its interpreter. Bodies are built before the clock starts.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mektep.processes import CloudProcess
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, INGEST_PATH, sign

__all__ = ["IngestRate", "run_ingest_bench"]


@dataclass(frozen=True, slots=True)
class IngestRate:
    """What a run measured."""

    events: int
    batches: int
    seconds: float
    clients: int

    @property
    def events_per_second(self) -> float:
        """Accepted events per wall-clock second."""
        return self.events / self.seconds


def _bodies(gateway_id: str, school_id: str, batches: int, batch_size: int) -> list[bytes]:
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    bodies, seq = [], 0
    for _ in range(batches):
        events = []
        for _ in range(batch_size):
            seq += 1
            events.append(
                {
                    "id": str(uuid.uuid4()),
                    "seq": seq,
                    "school_id": school_id,
                    "gateway_id": gateway_id,
                    "device_id": "canteen-1",
                    "kind": "meal",
                    "person_id": f"p-{seq % 900}",
                    "credential_kind": "em4100",
                    "credential_hash": secrets.token_hex(32),
                    "occurred_at": (start + timedelta(seconds=seq)).isoformat(),
                    "decision": "granted",
                    "reason": "eligible_free",
                    "judged_without_roster": False,
                    "meal": {"period": "lunch", "category": "free", "dishes": ["soup", "plov"], "price_tiyn": 70000},
                }
            )
        sent_at = datetime.now(UTC).isoformat()
        bodies.append(json.dumps({"gateway_id": gateway_id, "sent_at": sent_at, "events": events}).encode())
    return bodies


def _send(client: httpx.Client, gateway_id: str, key: bytes, bodies: list[bytes]) -> int:
    accepted = 0
    for body in bodies:
        ts = str(int(time.time()))
        signature = sign(key, "POST", INGEST_PATH, ts, body)
        headers = {HEADER_GATEWAY: gateway_id, HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: signature}
        response = client.post(INGEST_PATH, content=body, headers=headers)
        response.raise_for_status()
        accepted += sum(r["status"] == "accepted" for r in response.json()["results"])
    return accepted


def run_ingest_bench(
    database_url: str | None = None, *, batches: int = 40, batch_size: int = 500, clients: int = 1
) -> IngestRate:
    """Serve a fresh (or the given) database, post ``batches`` batches per client, and time it.

    ``clients`` gateways send at once, each from its own thread and connection.
    """
    with tempfile.TemporaryDirectory(prefix="mektep-bench-") as tmp:
        cloud = CloudProcess(Path(tmp), database_url=database_url)
        run = secrets.token_hex(3)
        gateways = [(f"gw-bench-{run}-{n}", f"school-bench-{run}-{n}", secrets.token_hex(32)) for n in range(clients)]
        for gateway_id, school_id, key in gateways:
            cloud.register_gateway(gateway_id, school_id, key)
        work = [(g, k.encode(), _bodies(g, s, batches, batch_size)) for g, s, k in gateways]
        cloud.start_and_wait()
        try:
            http = [httpx.Client(base_url=cloud.url, timeout=60) for _ in work]
            started = time.perf_counter()
            with ThreadPoolExecutor(len(work)) as pool:
                accepted = sum(pool.map(lambda w: _send(w[0], *w[1]), zip(http, work, strict=True)))
            seconds = time.perf_counter() - started
            for client in http:
                client.close()
        finally:
            cloud.stop()
    return IngestRate(events=accepted, batches=batches * clients, seconds=seconds, clients=clients)
