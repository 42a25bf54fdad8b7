"""The IIN check digit, on published examples and on any number."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from cloud_api.roster.iin import IinProblem, birth_date, check_digit, iin_problem, is_valid_iin


def make_iin(prefix: str) -> str:
    digit = check_digit(prefix)
    assert digit is not None
    return prefix + str(digit)


def test_known_numbers() -> None:
    # 1·1 + 5·2 + 0·3 + 3·4 + 1·5 + 9·6 + 5·7 + 0·8 + 0·9 + 1·10 + 2·11 = 149 = 13·11 + 6
    child = "150319500126"  # a boy born 19 March 2015 (century digit 5)
    assert make_iin("15031950012") == child
    assert is_valid_iin(child) and birth_date(child) == date(2015, 3, 19)
    assert iin_problem(child[:11] + str((int(child[11]) + 1) % 10)) is IinProblem.BAD_CHECK_DIGIT


def test_second_weighting_is_used_when_the_first_gives_ten() -> None:
    # Search the smallest serial whose first weighted sum is 10 (mod 11) and check the fallback.
    for serial in range(10000):
        prefix = f"1503195{serial:04d}"
        first = sum(int(d) * w for d, w in zip(prefix, range(1, 12), strict=True)) % 11
        if first == 10:
            second = sum(int(d) * w for d, w in zip(prefix, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), strict=True)) % 11
            assert check_digit(prefix) == (None if second == 10 else second)
            return
    raise AssertionError("no prefix with a first weighted sum of 10")


def test_malformed() -> None:
    assert iin_problem("") is IinProblem.NOT_TWELVE_DIGITS
    assert iin_problem("15031950012") is IinProblem.NOT_TWELVE_DIGITS  # eleven digits
    assert iin_problem("15031950012٣") is IinProblem.NOT_TWELVE_DIGITS  # an Arabic-Indic digit
    assert iin_problem(make_iin("15023150012")) is IinProblem.BAD_BIRTH_DATE  # 31 February


def _prefix(born: date, sex: int, serial: int) -> str:
    century = {18: 1, 19: 3, 20: 5}[born.year // 100] + sex
    return f"{born:%y%m%d}{century}{serial:04d}"


prefixes = st.builds(_prefix, st.dates(date(1800, 1, 1), date(2099, 12, 31)), st.integers(0, 1), st.integers(0, 9999))


@given(prefixes)
def test_any_number_with_its_check_digit_is_valid_and_any_other_digit_is_not(prefix: str) -> None:
    digit = check_digit(prefix)
    if digit is None:
        assert all(iin_problem(prefix + str(d)) is IinProblem.NO_CHECK_DIGIT for d in range(10))
        return
    assert is_valid_iin(prefix + str(digit))
    assert not any(is_valid_iin(prefix + str(d)) for d in range(10) if d != digit)
