"""The 5th, moved or not by policy, and the warning two working days before it (Kazakh calendar)."""

from __future__ import annotations

from datetime import date

import pytest

from cloud_api.reports.deadline import DeadlinePolicy, is_working_day, report_deadline, warning_day


def test_a_5th_on_a_working_day_is_the_deadline_under_either_policy() -> None:
    # October 2026's reports: 5 November 2026 is a Thursday.
    for policy in DeadlinePolicy:
        assert report_deadline(date(2026, 10, 17), policy) == date(2026, 11, 5)


def test_a_5th_on_a_sunday_moves_to_monday_only_when_the_policy_says_so() -> None:
    # March 2026's reports: 5 April 2026 is a Sunday.
    assert report_deadline(date(2026, 3, 1), DeadlinePolicy.FIXED) == date(2026, 4, 5)
    assert report_deadline(date(2026, 3, 1), DeadlinePolicy.NEXT_WORKING_DAY) == date(2026, 4, 6)


def test_december_reports_are_due_in_january_of_the_next_year() -> None:
    assert report_deadline(date(2026, 12, 31), DeadlinePolicy.FIXED) == date(2027, 1, 5)


def test_the_warning_comes_two_working_days_before_whatever_the_policy() -> None:
    # Deadline Monday 6 April: on Friday 3rd two working days are left, the 3rd and the 6th.
    assert warning_day(date(2026, 4, 6)) == date(2026, 4, 3)
    # Deadline Sunday 5 April (fixed policy): the two working days before it, Thursday 2nd and Friday 3rd.
    assert warning_day(date(2026, 4, 5)) == date(2026, 4, 2)
    # Deadline Thursday 5 November: Wednesday 4th.
    assert warning_day(date(2026, 11, 5)) == date(2026, 11, 4)


def test_holidays_and_transferred_days_follow_the_kazakh_calendar() -> None:
    assert not is_working_day(date(2026, 3, 23))  # Nauryz
    assert not is_working_day(date(2025, 1, 3))  # a Friday made a day off by decree ...
    assert is_working_day(date(2025, 1, 5))  # ... in exchange for working that Sunday
    # A deadline after the Nauryz days skips all of them: 20 March 2026 is a Friday, the next
    # working day after the weekend and the holidays is Thursday 26 March.
    assert warning_day(date(2026, 3, 27)) == date(2026, 3, 26)
    assert warning_day(date(2026, 3, 26)) == date(2026, 3, 20)


@pytest.mark.parametrize("month", range(1, 13))
def test_a_moved_deadline_is_a_working_day_never_before_the_5th(month: int) -> None:
    due = report_deadline(date(2027, month, 1), DeadlinePolicy.NEXT_WORKING_DAY)
    assert due.day >= 5 and is_working_day(due)
