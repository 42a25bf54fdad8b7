"""Measure how fast the cloud sends meal registrations to the Social Wallet (for ``mektep bench notify``).

N pending records are written straight into a fresh SQLite outbox before the clock starts; the
clock covers leasing, the HTTP round trips to the simulator (uvicorn, real sockets), receipt
verification and settling, until the outbox is empty.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import wallet_outbox
from cloud_api.social_wallet.contract import MealRegistration, WalletCategory
from cloud_api.social_wallet.outbox import OutboxStatus
from cloud_api.social_wallet.sender import send_pending
from simulators.social_wallet import WalletServer

__all__ = ["wallet_records_per_s"]

IIN = "150319500124"  # any 12 digits: the simulator does not check the roster
PRICE = 70000  # a lunch of 700 tenge, all of it paid by the state


def wallet_records_per_s(n: int = 2000, *, concurrency: int = 16, batch: int = 500) -> float:
    """Send ``n`` pending records to a Social Wallet simulator; records delivered per wall-clock second."""
    with tempfile.TemporaryDirectory(prefix="mektep-wallet-bench-") as tmp, WalletServer() as wallet:
        url = f"sqlite:///{Path(tmp) / 'cloud.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            _fill(engine, n)
            started = time.perf_counter()
            asyncio.run(_drain(engine, wallet, concurrency, batch))
            seconds = time.perf_counter() - started
            with engine.connect() as conn:
                delivered = conn.execute(
                    select(func.count()).where(wallet_outbox.c.status == OutboxStatus.DELIVERED.value)
                ).scalar_one()
        finally:
            engine.dispose()
    if delivered != n:
        raise RuntimeError(f"only {delivered} of {n} records were delivered")
    return n / seconds


def _fill(engine: Engine, n: int) -> None:
    now = datetime.now(UTC)
    day = date(2026, 11, 24)
    served = datetime(2026, 11, 24, 12, 30, tzinfo=timezone(timedelta(hours=5)))
    rows = []
    for _ in range(n):
        record_id = uuid.uuid4()
        registration = MealRegistration(
            record_id=record_id,
            student_iin=IIN,
            school_id="bench",
            served_at=served,
            meal_date=day,
            period="lunch",
            dishes=["Палау"],
            category=WalletCategory.FREE,
            full_price_tiyn=PRICE,
            state_share_tiyn=PRICE,
        )
        rows.append(
            {
                "school_id": "bench",
                "record_id": record_id,
                "person_id": uuid.uuid4(),
                "local_date": day,
                "period": "lunch",
                "payload": registration.model_dump(mode="json"),
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(wallet_outbox), rows)


async def _drain(engine: Engine, wallet: WalletServer, concurrency: int, batch: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=wallet.url, timeout=10.0, limits=limits) as client:
        while (
            await send_pending(engine, client, public_key=wallet.public_key, limit=batch, concurrency=concurrency)
        ).claimed:
            pass
