"""Send pending meal registrations to the Social Wallet: lease, POST, verify, settle.

One round (:func:`send_pending`) leases up to ``limit`` pending rows and sends each with its
record id as the idempotency key, ``concurrency`` at a time. Per record, what each answer means:

    201 / 200 + a receipt whose signature verifies    delivered; the receipt is kept (once)
    201 / 200 + a receipt that does not verify        not delivered: left pending, counted ``unverified``
    409 / 422 + a rejection naming the record          rejected, with the Wallet's reason
    429, 5xx, network errors, anything else            retried with exponential backoff (honouring
                                                       ``Retry-After``), then left pending for the next round

Only a verified receipt counts as delivery (the receiver's confirmation is the delivery); an
unreadable 4xx never rejects a record (a wrong URL must not throw the state's meals away). The
rows are a leased queue and the retries the background workers' policy (:mod:`cloud_api.background`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import httpx
from anyio import to_thread
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Engine

from cloud_api.background.http import RetryPolicy, Transient, retry_after_s
from cloud_api.core.metrics import WALLET_RECORDS
from cloud_api.social_wallet.contract import (
    IDEMPOTENCY_HEADER,
    REGISTRATIONS_PATH,
    WalletReceipt,
    WalletRejection,
    verify_receipt,
)
from cloud_api.social_wallet.outbox import Pending, claim_pending, mark_rejected, release, store_receipts

__all__ = ["WALLET_POLICY", "SendReport", "send_pending"]

# Six tries a round, from a second apart to five minutes; what is left goes to the next round.
WALLET_POLICY = RetryPolicy(initial_s=1.0, max_s=300.0, attempts=6)

log = logging.getLogger(__name__)
UNVERIFIED = "receipt signature does not verify"


@dataclass
class SendReport:
    """What one round did."""

    claimed: int = 0
    delivered: int = 0
    duplicates: int = 0  # receipts for a record that had one already: not stored again
    rejected: int = 0
    unverified: int = 0
    retry: int = 0  # left pending for the next round
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    pending: Pending
    tries: int
    receipt: WalletReceipt | None = None
    rejection: WalletRejection | None = None
    error: str | None = None


async def send_pending(
    engine: Engine,
    client: httpx.AsyncClient,
    *,
    public_key: Ed25519PublicKey,
    limit: int = 500,
    concurrency: int = 16,
    policy: RetryPolicy | None = None,
) -> SendReport:
    """Send one round of pending records through ``client`` (its ``base_url`` is the Wallet); what it did.

    Outcomes are settled in waves of ``4 × concurrency`` records, each wave in one transaction, so
    that a long outage does not hold back what was delivered before it.
    """
    policy = policy or WALLET_POLICY
    timeout = client.timeout
    timeout_s = max(t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool, 5.0) if t is not None)
    lease_s = policy.lease_s(timeout_s)
    claimed = await to_thread.run_sync(_claim, engine, limit, lease_s)
    report = SendReport(claimed=len(claimed))
    gate = asyncio.Semaphore(concurrency)
    wave = 4 * concurrency
    for start in range(0, len(claimed), wave):
        outcomes = await asyncio.gather(
            *(_send_one(client, pending, public_key, policy, gate) for pending in claimed[start : start + wave])
        )
        await to_thread.run_sync(_settle, engine, outcomes, report)
    return report


def _claim(engine: Engine, limit: int, lease_s: float) -> list[Pending]:
    with engine.begin() as conn:
        return claim_pending(conn, limit, now=datetime.now(UTC), lease_s=lease_s)


async def _send_one(
    client: httpx.AsyncClient, pending: Pending, key: Ed25519PublicKey, policy: RetryPolicy, gate: asyncio.Semaphore
) -> _Outcome:
    tries = 0

    async def attempt() -> _Outcome:
        nonlocal tries
        tries += 1
        async with gate:  # a record waiting out its backoff does not hold a slot
            return await _post(client, pending, key, tries)

    try:
        return await policy.call(attempt)
    except Transient as exc:
        return _Outcome(pending, tries, error=exc.error)


async def _post(client: httpx.AsyncClient, pending: Pending, key: Ed25519PublicKey, tries: int) -> _Outcome:
    record_id = pending.record_id
    headers = {IDEMPOTENCY_HEADER: str(record_id)}
    try:
        response = await client.post(REGISTRATIONS_PATH, json=pending.payload, headers=headers)
    except httpx.TransportError as exc:
        raise Transient(f"transport: {exc!r}") from exc
    status = response.status_code
    if status in (200, 201):
        try:
            receipt = WalletReceipt.model_validate_json(response.content)
        except ValidationError as exc:
            raise Transient(f"unreadable receipt: {response.text[:100]}") from exc
        if receipt.record_id != record_id:
            raise Transient(f"a receipt for another record: {receipt.record_id}")
        if not verify_receipt(key, receipt):
            # Asking again at once would only fetch the same receipt: the next round tries again,
            # and the counter tells the operator that someone signs receipts with another key.
            return _Outcome(pending, tries, error=UNVERIFIED)
        return _Outcome(pending, tries, receipt=receipt)
    if status in (409, 422):
        try:
            rejection = WalletRejection.model_validate_json(response.content)
        except ValidationError:
            rejection = None
        if rejection is not None and rejection.record_id == record_id:
            return _Outcome(pending, tries, rejection=rejection)
    raise Transient(f"HTTP {status}: {response.text[:100]}", retry_after_s(response.headers.get("Retry-After")), status)


def _settle(engine: Engine, outcomes: list[_Outcome], report: SendReport) -> None:
    now = datetime.now(UTC)
    receipts = [(o.pending.school_id, o.receipt, o.tries) for o in outcomes if o.receipt is not None]
    rejections = [(o.pending.school_id, o.rejection, o.tries) for o in outcomes if o.rejection is not None]
    failures: dict[str, list[tuple[str, UUID, int]]] = {}
    for o in outcomes:
        if o.error is not None:
            failures.setdefault(o.error, []).append((o.pending.school_id, o.pending.record_id, o.tries))
    with engine.begin() as conn:
        new = store_receipts(conn, receipts, now=now)
        mark_rejected(conn, rejections, now=now)
        for error, records in failures.items():
            release(conn, records, error, now=now)
    unverified = len(failures.get(UNVERIFIED, []))
    left = sum(len(records) for records in failures.values()) - unverified
    report.delivered += len(receipts)
    report.duplicates += len(receipts) - new
    report.rejected += len(rejections)
    report.unverified += unverified
    report.retry += left
    for error, records in failures.items():
        report.errors[error] = report.errors.get(error, 0) + len(records)
        log.warning("Social Wallet: %d record(s) not delivered this round: %s", len(records), error)
    for outcome, n in (
        ("delivered", len(receipts)),
        ("rejected", len(rejections)),
        ("unverified", unverified),
        ("retry", left),
    ):
        if n:
            WALLET_RECORDS.labels(outcome).inc(n)
