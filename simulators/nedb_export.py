"""A generated NEDB (ҰБДҚ) roster export, as a school's would come: what the benchmarks and the demo import.

Students in grades 1–11 with valid IINs, a guardian each (three families in ten with two children),
and 5 % staff; grades 5–11 discounted one time in five.
"""

from __future__ import annotations

import random

from cloud_api.roster.iin import check_digit

__all__ = ["HEADER", "nedb_rows"]

HEADER = [
    "role",
    "iin",
    "last_name",
    "first_name",
    "class",
    "language",
    "meal_category",
    "discount_percent",
    "phone",
    "email",
    "children",
]


def _iin(rng: random.Random, year: int) -> str:
    while True:
        born = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        prefix = f"{born}{rng.choice('3456')}{rng.randint(0, 9999):04d}"
        digit = check_digit(prefix)
        if digit is not None:
            return prefix + str(digit)


def nedb_rows(students: int, seed: int = 2026) -> list[list[str]]:
    """An NEDB export: ``students`` students in grades 1–11, a guardian each (siblings share), 5 % staff."""
    rng = random.Random(seed)
    rows: list[list[str]] = [HEADER]
    seen: set[str] = set()

    def unique(year: int) -> str:
        while (value := _iin(rng, year)) in seen:
            pass
        seen.add(value)
        return value

    children: list[str] = []
    for i in range(students):
        grade = 1 + i % 11
        child = unique(2026 - 6 - grade)
        category, discount = ("", "") if grade <= 4 or rng.random() > 0.2 else ("discounted", "50")
        rows.append(
            [
                "student",
                child,
                f"Фамилия{i}",
                f"Имя{i}",
                f"{grade}{'АБВГ'[i % 4]}",
                rng.choice(["kk", "ru"]),
                category,
                discount,
                "",
                "",
                "",
            ]
        )
        children.append(child)
    start = 0
    while start < len(children):  # every child has a guardian; three in ten share one with a sibling
        size = 2 if rng.random() < 0.3 and start + 1 < len(children) else 1
        family = children[start : start + size]
        rows.append(
            [
                "guardian",
                unique(1985),
                f"Родитель{start}",
                "Ата-ана",
                "",
                "",
                "",
                "",
                f"+7701{start:07d}",
                "",
                "; ".join(family),
            ]
        )
        start += size
    for i in range(max(1, students // 20)):
        rows.append(["staff", unique(1980), f"Учитель{i}", "Мұғалім", "", "ru", "", "", "", "", ""])
    return rows
