"""Finding a school's people for its staff: filtered, searched and paged. Reads only.

The caller decides what of a row is shown (the IIN and contacts to the school's administrator
only); this module hands back whole rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select

from cloud_api.db.schema import people

__all__ = ["PeopleQuery", "find_person", "list_people", "normalise_class"]


@dataclass(frozen=True)
class PeopleQuery:
    """What to look for: every filter is optional, ``q`` matches a part of a name (any case)."""

    role: str | None = None
    roles: tuple[str, ...] | None = None  # the roles the caller may see at all (None: every role)
    class_name: str | None = None
    q: str | None = None
    search_iin: bool = False  # also match ``q`` as the start of an IIN (the administrator only)
    limit: int = 100
    offset: int = 0


def normalise_class(text: str) -> str:
    """A class as the import stores it: "3 б" and "3-б" are "3Б"."""
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def find_person(conn: Connection, school_id: str, person_id: Any) -> dict[str, Any] | None:
    """One person of the school, the whole row, or None."""
    row = conn.execute(select(people).where(people.c.school_id == school_id, people.c.id == person_id)).first()
    return None if row is None else dict(row._mapping)


def list_people(conn: Connection, school_id: str, query: PeopleQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of the school's people, by class then name, and how many match in all."""
    where = [people.c.school_id == school_id]
    if query.role:
        where.append(people.c.role == query.role)
    if query.roles is not None:
        where.append(people.c.role.in_(query.roles))
    if query.class_name:
        where.append(people.c.class_name == normalise_class(query.class_name))
    if query.q and (needle := query.q.strip().lower()):
        # lower() on both sides: PostgreSQL's is Unicode-aware, and SQLite's is made so by
        # make_engine (its own folds ASCII only, and names here are Kazakh and Russian).
        names = [
            func.lower(column).contains(needle, autoescape=True)
            for column in (people.c.last_name, people.c.first_name, people.c.middle_name)
        ]
        if query.search_iin and needle.isdigit():
            names.append(people.c.iin.startswith(needle, autoescape=True))
        where.append(or_(*names))
    total = conn.execute(select(func.count()).select_from(people).where(*where)).scalar_one()
    rows = conn.execute(
        select(people)
        .where(*where)
        # Students by grade and class ("2А" before "10А"), then staff and guardians; each by name.
        # The id breaks ties, so that pages never overlap.
        .order_by(
            people.c.grade.is_(None),
            people.c.grade,
            people.c.class_name,
            people.c.last_name,
            people.c.first_name,
            people.c.id,
        )
        .limit(query.limit)
        .offset(query.offset)
    )
    return [dict(row._mapping) for row in rows], int(total)
