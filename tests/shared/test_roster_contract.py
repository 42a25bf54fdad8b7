"""The roster contract's meal periods: school wall times, whatever way RFC 3339 writes them."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError

from shared.roster_contract import MealRules


def period(starts: str, ends: str) -> tuple[time, time]:
    rules = MealRules.model_validate({"periods": [{"name": "lunch", "starts": starts, "ends": ends}]})
    return rules.periods[0].starts, rules.periods[0].ends


def test_a_time_with_an_offset_is_the_schools_wall_time_at_that_instant() -> None:
    # Once a 500: an aware time compared with a naive one raised TypeError in the validator.
    assert period("12:00:00+05:00", "13:00") == (time(12), time(13))
    assert period("07:00:00Z", "13:30:00+05:00") == (time(12), time(13, 30))
    assert period("12:00", "13:00") == (time(12), time(13))


def test_a_leap_second_is_the_last_second_of_its_minute() -> None:
    assert period("11:59:60", "13:00") == (time(11, 59, 59), time(13))


def test_a_period_still_ends_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends after it starts"):
        period("12:00:00Z", "13:00")  # 17:00 in Almaty
