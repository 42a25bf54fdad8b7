"""The Kazakh individual identification number (IIN, ЖСН/ИИН): 12 digits, the last a check digit.

Layout: ``YYMMDD`` birth date, one digit for century and sex (1-2: 1800s, 3-4: 1900s, 5-6: 2000s;
odd for men), four serial digits, one check digit. The check digit is the weighted sum of the first
eleven digits modulo 11 with weights 1..11; if that gives 10, the weights 3..11, 1, 2 are used
instead; if that gives 10 too, the number is not a valid IIN.

    iin_problem("...") -> None or a stable reason code (translated for people elsewhere)
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

__all__ = ["IinProblem", "birth_date", "check_digit", "iin_problem", "is_valid_iin"]

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


class IinProblem(StrEnum):
    """Why a string is not an IIN."""

    NOT_TWELVE_DIGITS = "iin_not_twelve_digits"
    BAD_CHECK_DIGIT = "iin_bad_check_digit"
    NO_CHECK_DIGIT = "iin_no_check_digit"  # both weightings give 10: no such IIN is issued
    BAD_BIRTH_DATE = "iin_bad_birth_date"


def check_digit(first_eleven: str) -> int | None:
    """The check digit for the first eleven digits, or None if no valid IIN starts with them."""
    digits = [int(c) for c in first_eleven]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        value = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if value != 10:
            return value
    return None


def birth_date(iin: str) -> date | None:
    """The birth date an IIN encodes, or None when its century digit does not say (or it is no date)."""
    century = _CENTURY.get(iin[6])
    if century is None:
        return None
    try:
        return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None


def iin_problem(value: str) -> IinProblem | None:
    """None if ``value`` is a valid IIN, else what is wrong with it."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return IinProblem.NOT_TWELVE_DIGITS
    expected = check_digit(value[:11])
    if expected is None:
        return IinProblem.NO_CHECK_DIGIT
    if expected != int(value[11]):
        return IinProblem.BAD_CHECK_DIGIT
    # The century digit 0 is seen on numbers issued to some foreign citizens: the date is not checked then.
    if value[6] in _CENTURY and birth_date(value) is None:
        return IinProblem.BAD_BIRTH_DATE
    return None


def is_valid_iin(value: str) -> bool:
    """True when ``value`` is a well-formed IIN with a correct check digit."""
    return iin_problem(value) is None
