"""Kazakhstan's local day: the zone every day, month and deadline is computed in."""

from __future__ import annotations

import importlib.resources
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["LOCAL_TZ", "day_end", "local_date", "month_end", "with_offset"]


def _load_zone(key: str) -> ZoneInfo:
    # Prefer the pinned ``tzdata`` package to the host's files: Almaty moved from UTC+6 to UTC+5
    # on 2024-03-01 and an old host would put every evening event on the wrong day.
    try:
        with importlib.resources.files("tzdata.zoneinfo").joinpath(key).open("rb") as f:
            return ZoneInfo.from_file(f, key=key)
    except (ModuleNotFoundError, FileNotFoundError):
        return ZoneInfo(key)


LOCAL_TZ = _load_zone("Asia/Almaty")


def local_date(at: datetime) -> date:
    """The day ``at`` falls on in Asia/Almaty (``at`` must be aware)."""
    return at.astimezone(LOCAL_TZ).date()


def day_end(day: date) -> datetime:
    """The local midnight that ends ``day``: the first instant of the next."""
    return datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ)


def month_end(month: str) -> datetime:
    """The local midnight that ends ``YYYY-MM``."""
    first = date.fromisoformat(f"{month}-01")
    return day_end((first + timedelta(days=32)).replace(day=1) - timedelta(days=1))


def with_offset(at: datetime, offset_minutes: int) -> datetime:
    """The instant ``at`` shown with the offset the gateway recorded it with."""
    return at.astimezone(timezone(timedelta(minutes=offset_minutes)))
