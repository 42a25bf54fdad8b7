"""Amounts of money as people type them into the office's forms, read in one place.

The canteen's prices and the money pages' amounts are read by the same rule, so that "700 тг" is
700 ₸ on every page: digits with spaces as thousands separators, a comma or a point before at most
two digits of tiyn, and a currency word or sign after it ("₸", "тг", "тг.", "теңге", "тенге", "KZT").
"""

from __future__ import annotations

import re

__all__ = ["MAX_PRICE_TIYN", "typed_tenge"]

MAX_PRICE_TIYN = 100_000_00  # 100 000 ₸: no school dish costs more; a typo of a zero too many is caught
_TENGE = re.compile(r"^([+-]?)(\d{1,9})(?:[.,](\d{1,2}))?$")
_SPACES = re.compile(r"[\s\u00a0\u202f'’]")
# Longest first: "тг." before "тг", so that the point is not left behind as a decimal point.
_CURRENCY = re.compile(r"(?:теңге|тенге|тг\.|тг|₸|kzt)$", re.IGNORECASE)


def typed_tenge(text: str, limit: int | None = MAX_PRICE_TIYN, *, signed: bool = False) -> int | None:
    """An amount as people type it ("700", "700,50", "1 200", "1 200.5 ₸", "80 тг.") in tiyn; None when it
    is not one or is over ``limit`` tiyn (None: no limit).

    A minus sign (or the typographic "−") is read only when ``signed`` (a correction that takes money away).
    """
    cleaned = _CURRENCY.sub("", _SPACES.sub("", text).replace("−", "-"))
    found = _TENGE.fullmatch(cleaned)
    if found is None or (found.group(1) == "-" and not signed):
        return None
    tiyn = int(found.group(2)) * 100 + int((found.group(3) or "0").ljust(2, "0"))
    if found.group(1) == "-":
        tiyn = -tiyn
    return tiyn if limit is None or abs(tiyn) <= limit else None
