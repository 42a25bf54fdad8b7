"""Delivering issued reports to every configured receiver until each acknowledges, keeping the receipt.

Each version of a school's report goes to each of the school receivers (the education authority,
the school), and each version of a region's or the country's to each region receiver (the
ministry, the regional authority), as one
:class:`~cloud_api.reports.delivery.Delivery`. It counts as delivered only on the receiver's receipt
for that version and manifest; the receipt is kept. A receiver that is down
is tried a few times now (tenacity) and again at the next round, for as long as it takes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import report_deliveries, reports
from cloud_api.reports.delivery import DELIVERY_PATH, Delivery, Receipt, encode_files
from cloud_api.reports.issue import REGION_KINDS
from cloud_api.reports.store import VersionKey, read_files

__all__ = ["DeliveryRound", "Receivers", "deliver_round", "unacknowledged"]

log = logging.getLogger(__name__)


class _NotYet(Exception):
    """The receiver did not acknowledge this time (down, busy, or an answer we cannot take)."""


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
        for d in conn.execute(select(report_deliveries).where(report_deliveries.c.state == "delivered"))
    }
    for row in conn.execute(query):
        for receiver in sorted(receivers.of(row.kind)):
            if (row.subject, row.month, row.kind, row.version, receiver) not in delivered:
                out.append({"row": row, "receiver": receiver})
    return out


def _delivery(engine: Engine, key: Any) -> tuple[Delivery, bytes]:
    """The whole stored version (files, manifest, signature) of a key :func:`unacknowledged` gave, as the
    delivery sent for it, and its manifest."""
    r = reports.c
    with engine.connect() as conn:
        row = conn.execute(
            select(reports).where(
                r.subject == key.subject, r.month == key.month, r.kind == key.kind, r.version == key.version
            )
        ).one()
        files = read_files(conn, VersionKey(row.subject, row.month, row.kind, row.version))
    manifest = bytes(row.manifest)
    delivery = Delivery(
        report_id=f"{row.subject}/{row.month}/{row.kind}",
        subject=row.subject,
        month=row.month,
        kind=row.kind,
        version=row.version,
        manifest=base64.b64encode(manifest).decode(),
        signature=row.signature,
        files=encode_files(files),
    )
    return delivery, manifest


def deliver_round(
    engine: Engine,
    receivers: Receivers,
    client: httpx.Client,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryRound:
    """Send every unacknowledged version to its receiver; keep each receipt."""
    result = DeliveryRound()
    with engine.connect() as conn:
        pending = unacknowledged(conn, receivers)
    for item in pending:
        (delivery, manifest), receiver = _delivery(engine, item["row"]), item["receiver"]
        body = delivery.model_dump_json()  # once: every attempt sends the same bytes
        retrying = Retrying(
            retry=retry_if_exception_type(_NotYet),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            sleep=sleep,
            reraise=True,
        )
        error: str | None = None
        receipt: Receipt | None = None
        try:
            receipt = retrying(_send, client, receivers.of(delivery.kind)[receiver], body, delivery.version, manifest)
        except _NotYet as exc:
            error = str(exc)
        _record(engine, item["row"], receiver, receipt, error, now())
        if receipt is None:
            result.failed += 1
            log.warning(
                "report %s v%d not acknowledged by %s: %s", delivery.report_id, delivery.version, receiver, error
            )
        else:
            result.delivered += 1
    return result


def _send(client: httpx.Client, url: str, body: str, version: int, manifest: bytes) -> Receipt:
    try:
        response = client.post(
            url.rstrip("/") + DELIVERY_PATH, content=body, headers={"Content-Type": "application/json"}
        )
    except httpx.TransportError as exc:
        raise _NotYet(f"unreachable: {exc!r}") from None
    if response.status_code not in (200, 201):
        raise _NotYet(f"answered {response.status_code}: {response.text[:200]}")
    try:
        receipt = Receipt.model_validate_json(response.content)
    except ValidationError:
        raise _NotYet("the answer is not a receipt") from None
    # A receipt counts only for this very version and manifest.
    if receipt.version != version or receipt.manifest_sha256 != hashlib.sha256(manifest).hexdigest():
        raise _NotYet("the receipt is for another version or manifest")
    return receipt


def _record(engine: Engine, row: Any, receiver: str, receipt: Receipt | None, error: str | None, at: datetime) -> None:
    key = {"subject": row.subject, "month": row.month, "kind": row.kind, "version": row.version, "receiver": receiver}
    values = {
        "state": "delivered" if receipt else "pending",
        "last_error": None if receipt else (error or "")[:300],
        "receipt": receipt.model_dump(mode="json") if receipt else None,
        "delivered_at": at if receipt else None,
    }
    with engine.begin() as conn:
        stmt = dialect_insert(conn, report_deliveries).values(**key, **values, attempts=1)
        attempts = {"attempts": report_deliveries.c.attempts + 1}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_={**values, **attempts}))
