"""Delivering issued reports to every configured receiver until each acknowledges, keeping the receipt.

Each version of a school's report goes to each of the school receivers (the education authority,
the school), and each version of a region's or the country's to each region receiver (the
ministry, the regional authority), as one :class:`~cloud_api.reports.receiver_contract.Delivery`.
It counts as delivered only on the receiver's receipt for that version and manifest; the receipt
is kept. Deliveries are rows of a leased queue (:mod:`cloud_api.background.queue`): a round
enqueues every (version, receiver) it has not seen, claims the due ones, tries each a few times now
(the policy's backoff, honouring ``Retry-After``) and releases what was not acknowledged for the
next round, for as long as it takes. Several API processes share the queue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from cloud_api.background.http import RetryPolicy, Transient, retry_after_s
from cloud_api.background.queue import PENDING, LeasedQueue
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import report_deliveries, reports
from cloud_api.reports.issue import REGION_KINDS
from cloud_api.reports.receiver_contract import DELIVERY_PATH, Delivery, Receipt, encode_files
from cloud_api.reports.store import VersionKey, read_files

__all__ = ["DELIVERY_POLICY", "DeliveryRound", "Receivers", "deliver_round", "unacknowledged"]

log = logging.getLogger(__name__)
QUEUE = LeasedQueue(report_deliveries, key=("subject", "month", "kind", "version", "receiver"), order="version")
# A receiver down is tried three times now, a few seconds apart, and again at the next round.
DELIVERY_POLICY = RetryPolicy(initial_s=0.2, max_s=5.0, attempts=3)
DELIVERED = "delivered"


@dataclass(frozen=True)
class Receivers:
    """Where reports go, name → base URL: a school's to ``schools``, a region's and the country's to ``regions``."""

    schools: Mapping[str, str] = field(default_factory=dict)
    regions: Mapping[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> Mapping[str, str]:
        """The receivers of reports of ``kind``."""
        return self.regions if kind in REGION_KINDS else self.schools

    def __bool__(self) -> bool:
        return bool(self.schools or self.regions)


@dataclass
class DeliveryRound:
    """What one round did."""

    delivered: int = 0
    failed: int = 0


def unacknowledged(conn: Connection, receivers: Receivers, subject: str | None = None) -> list[dict[str, Any]]:
    """Every (report version, receiver) without a receipt yet, oldest version first: each version's keys
    only (subject, month, kind, version), not its files."""
    out: list[dict[str, Any]] = []
    r = reports.c
    query = select(r.subject, r.month, r.kind, r.version).order_by(r.subject, r.month, r.kind, r.version)
    if subject is not None:
        query = query.where(reports.c.subject == subject)
    delivered = {
        (d.subject, d.month, d.kind, d.version, d.receiver)
        for d in conn.execute(select(report_deliveries).where(report_deliveries.c.state == DELIVERED))
    }
    for row in conn.execute(query):
        for receiver in sorted(receivers.of(row.kind)):
            if (row.subject, row.month, row.kind, row.version, receiver) not in delivered:
                out.append({"row": row, "receiver": receiver})
    return out


def _enqueue(conn: Connection, receivers: Receivers) -> None:
    """A pending delivery for every (version, receiver) that has none: the queue learns what was issued."""
    rows = [
        {
            "subject": item["row"].subject,
            "month": item["row"].month,
            "kind": item["row"].kind,
            "version": item["row"].version,
            "receiver": item["receiver"],
            "state": PENDING,
            "attempts": 0,
        }
        for item in unacknowledged(conn, receivers)
    ]
    if rows:
        conn.execute(dialect_insert(conn, report_deliveries).on_conflict_do_nothing(), rows)


def _claim(engine: Engine, receivers: Receivers, now: datetime, limit: int, lease: timedelta) -> list[Any]:
    with engine.begin() as conn:
        _enqueue(conn, receivers)
    with engine.begin() as conn:
        configured = set(receivers.schools) | set(receivers.regions)
        return QUEUE.claim(
            conn, now=now, limit=limit, lease=lease, where=[report_deliveries.c.receiver.in_(configured)]
        )


def _delivery(engine: Engine, row: Any) -> tuple[Delivery, bytes]:
    """The whole stored version (files, manifest, signature) of a claimed row, and its manifest."""
    r = reports.c
    with engine.connect() as conn:
        version = conn.execute(
            select(reports).where(
                r.subject == row.subject, r.month == row.month, r.kind == row.kind, r.version == row.version
            )
        ).one()
        files = read_files(conn, VersionKey(row.subject, row.month, row.kind, row.version))
    manifest = bytes(version.manifest)
    delivery = Delivery(
        report_id=f"{row.subject}/{row.month}/{row.kind}",
        subject=row.subject,
        month=row.month,
        kind=row.kind,
        version=row.version,
        manifest=base64.b64encode(manifest).decode(),
        signature=version.signature,
        files=encode_files(files),
    )
    return delivery, manifest


async def deliver_round(
    engine: Engine,
    receivers: Receivers,
    client: httpx.AsyncClient,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    policy: RetryPolicy = DELIVERY_POLICY,
    limit: int = 100,
) -> DeliveryRound:
    """Send every due delivery to its receiver, one after another; keep each receipt."""
    result = DeliveryRound()
    if not receivers:
        return result
    timeout = client.timeout.read or 30.0
    claimed = await asyncio.to_thread(
        _claim, engine, receivers, now(), limit, timedelta(seconds=policy.lease_s(timeout))
    )
    for row in claimed:
        delivery, manifest = await asyncio.to_thread(_delivery, engine, row)
        body = delivery.model_dump_json()  # once: every try sends the same bytes
        url = receivers.of(row.kind)[row.receiver].rstrip("/") + DELIVERY_PATH
        receipt, error, tries = await _deliver(client, policy, url, body, row.version, manifest)
        await asyncio.to_thread(_settle, engine, row, receipt, error, tries, now())
        if receipt is None:
            result.failed += 1
            log.warning(
                "report %s v%d not acknowledged by %s: %s", delivery.report_id, row.version, row.receiver, error
            )
        else:
            result.delivered += 1
    return result


async def _deliver(
    client: httpx.AsyncClient, policy: RetryPolicy, url: str, body: str, version: int, manifest: bytes
) -> tuple[Receipt | None, str | None, int]:
    """(the receipt, or why there is none, and how many tries it took)."""
    tries = 0

    async def attempt() -> Receipt:
        nonlocal tries
        tries += 1
        return await _send(client, url, body, version, manifest)

    try:
        return await policy.call(attempt), None, tries
    except Transient as exc:
        return None, exc.error, tries


async def _send(client: httpx.AsyncClient, url: str, body: str, version: int, manifest: bytes) -> Receipt:
    try:
        response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
    except httpx.TransportError as exc:
        raise Transient(f"unreachable: {exc!r}") from None
    if response.status_code not in (200, 201):
        raise Transient(
            f"answered {response.status_code}: {response.text[:200]}",
            retry_after_s(response.headers.get("Retry-After")),
            response.status_code,
        )
    try:
        receipt = Receipt.model_validate_json(response.content)
    except ValidationError:
        raise Transient("the answer is not a receipt") from None
    # A receipt counts only for this very version and manifest.
    if receipt.version != version or receipt.manifest_sha256 != hashlib.sha256(manifest).hexdigest():
        raise Transient("the receipt is for another version or manifest")
    return receipt


def _settle(engine: Engine, row: Any, receipt: Receipt | None, error: str | None, tries: int, at: datetime) -> None:
    key = [(row.subject, row.month, row.kind, row.version, row.receiver)]
    attempts = report_deliveries.c.attempts + tries
    with engine.begin() as conn:
        if receipt is not None:
            QUEUE.settle(
                conn,
                key,
                DELIVERED,
                receipt=receipt.model_dump(mode="json"),
                delivered_at=at,
                last_error=None,
                attempts=attempts,
            )
        else:
            QUEUE.release(conn, key, retry_at=None, last_error=(error or "")[:300], attempts=attempts)
