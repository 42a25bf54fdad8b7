"""When a month's reports are due, and when to warn that they are not delivered yet.

Order No. 456 wants the reports of a month by the 5th of the next one (§33-1.9, §33-1.12). The
older rules of the unified education information system (Order No. 1037 of 2004, since repealed,
§11) move a deadline that falls on a day off to the next working day; whether a deployment
follows that is its policy (:class:`DeadlinePolicy`). Whatever the policy, the school admin and
the region are warned two working days before the deadline while a
delivery is still unacknowledged.

Working days are Kazakhstan's, from the ``holidays`` package: weekends, public holidays, the days
off a government decree moves (``Day off (substituted from …)``) and the weekend days it turns
into working days.

    due = report_deadline(date(2026, 3, 1), DeadlinePolicy.NEXT_WORKING_DAY)   # 2026-04-06
    warn = warning_day(due)                                                     # 2026-04-03
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache

import holidays

__all__ = ["DUE_DAY", "WARN_WORKING_DAYS_BEFORE", "DeadlinePolicy", "is_working_day", "report_deadline", "warning_day"]

DUE_DAY = 5
WARN_WORKING_DAYS_BEFORE = 2


class DeadlinePolicy(StrEnum):
    """Whether a deadline on a day off stays where it is or moves to the next working day."""

    FIXED = "fixed"
    NEXT_WORKING_DAY = "next_working_day"


@lru_cache(maxsize=32)
def _calendar(year: int) -> holidays.HolidayBase:
    # One calendar a year, made once: the package computes a year's holidays on first use.
    return holidays.country_holidays("KZ", years=[year - 1, year, year + 1])


def is_working_day(day: date) -> bool:
    """True for a working day in Kazakhstan (a transferred working Saturday counts)."""
    return bool(_calendar(day.year).is_working_day(day))


def report_deadline(month: date, policy: DeadlinePolicy) -> date:
    """The day the reports of ``month`` (any day in it) are due under ``policy``."""
    year, next_month = (month.year + 1, 1) if month.month == 12 else (month.year, month.month + 1)
    due = date(year, next_month, DUE_DAY)
    if policy is DeadlinePolicy.NEXT_WORKING_DAY:
        while not is_working_day(due):
            due = date.fromordinal(due.toordinal() + 1)
    return due


def warning_day(deadline: date, working_days_left: int = WARN_WORKING_DAYS_BEFORE) -> date:
    """The working day on which ``working_days_left`` working days remain, the deadline's own included.

    "Two working days before the deadline": for a deadline on Thursday the 5th, Wednesday the 4th
    (the 4th and the 5th are left); for a deadline on a day off, the two working days before it.
    A receiver back on the 4th is then delivered to before anyone is warned.
    """
    day, left = deadline, working_days_left
    while True:
        if is_working_day(day):
            left -= 1
            if left == 0:
                return day
        day = date.fromordinal(day.toordinal() - 1)
