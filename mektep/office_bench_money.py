"""The office's money pages under ``mektep bench office``: a pupil's statement with a year of paid meals.

One pupil of the bench's school eats twice every school day of the last year (breakfast and lunch,
each a meal event of the canteen's gateway, charged to the prepaid ledger) and the family tops the
balance up at the start of each month, with a receipt. Asked 50 times in a row, as the office's
other pages are:

- ``statement_p95_ms``: the pupil's statement over the whole year (about 500 lines, each meal with
  its dishes, the running balance), the page as the secretary opens it;
- ``statement_month_p95_ms``: this month's statement (the page's default);
- ``balances_p95_ms``: Money, the balances by class and the first page of pupils.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import httpx
from sqlalchemy import insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import balance_entries, events, people
from cloud_api.services.ingest import event_row
from shared.contract import Event
from shared.localtime import LOCAL_TZ

__all__ = ["bench_money"]

ASKS = 50
BREAKFAST, LUNCH = 350_00, 900_00
TOP_UP = 40_000_00


def _school_days(last: date) -> list[date]:
    """A year of school days up to ``last``: Monday to Friday, the summer (June to August) off."""
    days = [last - timedelta(days=n) for n in range(365)]
    return sorted(d for d in days if d.weekday() < 5 and d.month not in (6, 7, 8))


def _meal(school_id: str, child: uuid.UUID, at: datetime, seq: int, period: str, price: int) -> Event:
    dishes = ["Сүт көже", "Шай"] if period == "breakfast" else ["Палау", "Салат", "Компот"]
    return Event.model_validate(
        {
            "id": str(uuid.uuid4()),
            "seq": seq,
            "school_id": school_id,
            "gateway_id": "bench-gw",
            "device_id": "till-1",
            "kind": "meal",
            "person_id": str(child),
            "occurred_at": at.isoformat(),
            "decision": "granted",
            "reason": "ok",
            "meal": {"period": period, "category": "paid", "dishes": dishes, "price_tiyn": price},
        }
    )


def _fill_year(database_url: str, school_id: str) -> str:
    """A pupil's year of meals and monthly top-ups, in the events and the ledger; the pupil's id."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            child = conn.execute(
                select(people.c.id)
                .where(people.c.school_id == school_id, people.c.role == "student")
                .order_by(people.c.id)
                .limit(1)
            ).scalar_one()
            today = datetime.now(LOCAL_TZ).date()
            meals: list[Event] = []
            ledger: list[dict[str, object]] = []
            month_paid: set[tuple[int, int]] = set()
            for day in _school_days(today - timedelta(days=1)):
                if (day.year, day.month) not in month_paid:
                    month_paid.add((day.year, day.month))
                    at = datetime.combine(day, clock(8, 0), LOCAL_TZ).astimezone(UTC)
                    receipt = f"BENCH-{day:%Y-%m}"
                    ledger.append(_credit(school_id, child, at, receipt, day))
                for hour, period, price in ((9, "breakfast", BREAKFAST), (12, "lunch", LUNCH)):
                    at = datetime.combine(day, clock(hour, 30), LOCAL_TZ)
                    meal = _meal(school_id, child, at, 10_000_000 + len(meals), period, price)
                    meals.append(meal)
                    ledger.append(_charge(school_id, child, meal, at.astimezone(UTC) + timedelta(seconds=5)))
            conn.execute(insert(events), [event_row(e, datetime.now(UTC), 0) for e in meals])
            conn.execute(insert(balance_entries), sorted(ledger, key=lambda r: r["at"]))  # type: ignore[arg-type, return-value]
        return str(child)
    finally:
        engine.dispose()


def _credit(school_id: str, child: uuid.UUID, at: datetime, receipt: str, day: date) -> dict[str, object]:
    return {
        "school_id": school_id,
        "person_id": child,
        "kind": "top_up",
        "amount_tiyn": TOP_UP,
        "event_id": None,
        "note": None,
        "version": None,
        "at": at,
        "actor": "bench",
        "method": "cash",
        "receipt": receipt,
        "paid_on": day,
    }


def _charge(school_id: str, child: uuid.UUID, meal: Event, at: datetime) -> dict[str, object]:
    assert meal.meal is not None
    return {
        "school_id": school_id,
        "person_id": child,
        "kind": "meal",
        "amount_tiyn": -meal.meal.price_tiyn,
        "event_id": meal.id,
        "note": meal.meal.period,
        "version": None,
        "at": at,
        "actor": "bench-gw",
        "method": None,
        "receipt": None,
        "paid_on": None,
    }


def _p95_ms(client: httpx.Client, path: str) -> float:
    for _ in range(3):  # warm
        client.get(path).raise_for_status()
    times = []
    for _ in range(ASKS):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return statistics.quantiles(times, n=20)[-1]


def bench_money(client: httpx.Client, database_url: str, school_id: str) -> dict[str, float | int]:
    """Give a pupil of the running cloud's school a year of meals, then time the money pages (signed-in ``client``)."""
    child = _fill_year(database_url, school_id)
    today = datetime.now(LOCAL_TZ).date()
    base = f"/office/schools/{school_id}/money"
    year = f"{base}/children/{child}?from={(today - timedelta(days=365)).isoformat()}&to={today.isoformat()}"
    page = client.get(year).text
    lines = page.count('<tr class="meal">') + page.count('<tr class="top_up">')
    return {
        "statement_p95_ms": _p95_ms(client, year),
        "statement_month_p95_ms": _p95_ms(client, f"{base}/children/{child}"),
        "balances_p95_ms": _p95_ms(client, base),
        "statement_lines": lines,
    }
