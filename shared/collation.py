"""Names and class names in the order a Kazakh or Russian reader looks for them.

Python compares code points, which puts the Kazakh letters (Ә, Ғ, Қ, Ң, Ө, Ұ, Ү, Һ, І) after Я and
sorts "10А" before "2Б". The Kazakh Cyrillic alphabet holds the Russian one in the same order, so
one key serves both languages; Latin letters and digits come first, as code points. No collation
library is needed for 42 letters (ICU is a system library the gateway does not otherwise need).
"""

from __future__ import annotations

import re

__all__ = ["class_key", "name_key"]

_ALPHABET = "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя"
# Each letter becomes a character of the Private Use Area in the alphabet's order, past every
# Latin letter and digit; one str.translate makes the key, at C speed (a list of 3,000 names).
_ORDER = str.maketrans({letter: chr(0xE000 + n) for n, letter in enumerate(_ALPHABET)})
_GRADE = re.compile(r"^\s*(\d+)\s*(.*)$")


def name_key(name: str) -> str:
    """A sort key: Kazakh alphabetical order (Russian's is within it), case ignored."""
    return name.casefold().translate(_ORDER)


def class_key(name: str) -> tuple[int, int, str]:
    """A sort key for class names: by grade as a number ("2Б" before "10А"), then by letter."""
    found = _GRADE.match(name)
    if found is None:
        return (1, 0, name_key(name))
    return (0, int(found.group(1)), name_key(found.group(2)))
