"""Finding a school's people for its staff: filtered, searched and paged. Reads only.

The caller decides what of a row is shown (the IIN and contacts to the school's administrator
only); this module hands back whole rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, or_, select

from cloud_api.db.schema import consents, credentials, guardianships, iin_indexes, people
from cloud_api.services.history import newest_rows

__all__ = ["PeopleQuery", "find_person", "list_people", "normalise_class", "relatives_of"]


@dataclass(frozen=True)
class PeopleQuery:
    """What to look for: every filter is optional, ``q`` matches a part of a name (any case)."""

    role: str | None = None
    roles: tuple[str, ...] | None = None  # the roles the caller may see at all (None: every role)
    class_name: str | None = None
    q: str | None = None
    search_iin: bool = False  # also match ``q`` as a whole IIN (the administrator only)
    card_hash: str | None = None  # also match the holder of this card (the keyed hash of the typed number)
    consent: Literal["given", "withdrawn", "never"] | None = None  # students by the consent in force
    active: bool | None = None
    sort: Literal["class", "name"] = "class"
    descending: bool = False
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
        # make_engine (its own folds ASCII only, and names here are Kazakh and Russian). Each word
        # must be found in one of the names: "серікова айша" finds Серікова Айша.
        columns = (people.c.last_name, people.c.first_name, people.c.middle_name)
        every_word = [
            or_(*(func.lower(column).contains(word, autoescape=True) for column in columns)) for word in needle.split()
        ]
        names = [and_(*every_word)]
        if query.search_iin and needle.isdigit() and len(needle) == 12:
            # The IIN is encrypted: found whole, by its blind index (under every key held), never by a prefix.
            names.append(people.c.iin_index.in_(iin_indexes(conn, needle)))
        if query.card_hash:
            holders = select(credentials.c.person_id).where(
                credentials.c.school_id == school_id, credentials.c.credential_hash == query.card_hash
            )
            names.append(people.c.id.in_(holders))
        where.append(or_(*names))
    if query.active is not None:
        where.append(people.c.active == query.active)
    if query.consent is not None:
        where.append(_consent_is(school_id, query.consent))
    total = conn.execute(select(func.count()).select_from(people).where(*where)).scalar_one()
    by_name = [people.c.last_name, people.c.first_name, people.c.middle_name]
    # Students by grade and class ("2А" before "10А"), then staff and guardians; each by name.
    by_class = [people.c.grade.is_(None), people.c.grade, people.c.class_name, *by_name]
    order = by_name if query.sort == "name" else by_class
    if query.descending:
        order = [column.desc() for column in order]
    # The id breaks ties, so that pages never overlap.
    rows = conn.execute(
        select(people).where(*where).order_by(*order, people.c.id).limit(query.limit).offset(query.offset)
    )
    return [dict(row._mapping) for row in rows], int(total)


def _consent_is(school_id: str, state: str) -> Any:
    """Students whose consent in force is ``state`` (given, withdrawn, or never asked)."""
    current = newest_rows(consents, school_id, "child_id").subquery()
    if state == "never":
        return (people.c.role == "student") & people.c.id.not_in(select(current.c.child_id))
    return people.c.id.in_(select(current.c.child_id).where(current.c.given == (state == "given")))


def relatives_of(conn: Connection, school_id: str, person_id: Any) -> list[dict[str, Any]]:
    """A child's guardians, or a guardian's children (whole rows, by name); nobody for staff."""
    link = guardianships.c
    pairs = ((link.child_id, link.guardian_id), (link.guardian_id, link.child_id))
    found: list[dict[str, Any]] = []
    for mine, theirs in pairs:
        rows = conn.execute(
            select(people)
            .join(guardianships, (link.school_id == people.c.school_id) & (theirs == people.c.id))
            .where(people.c.school_id == school_id, mine == person_id)
            .order_by(people.c.last_name, people.c.first_name)
        )
        found += [dict(row._mapping) for row in rows]
    return found
