"""Canteen staff PINs for the canteen screen's manual entry. The caller owns the transaction.

Only the PBKDF2 hash is kept (:mod:`shared.pins`), and it travels to the gateway with the
staff member's roster row, so that the screen can check a PIN with no Internet. Setting one takes
a roster version; the audit journal records that a PIN was set or withdrawn, never the hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import canteen_pins, people
from cloud_api.services.accounts import Role, accounts_of_people, grants_of
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.history import in_force
from cloud_api.services.roster_versions import next_version
from shared.pins import hash_pin

__all__ = ["PIN_PATTERN", "StaffPin", "pins_of", "set_canteen_pin", "staff_pins"]

PIN_PATTERN = re.compile(r"[0-9]{4,8}")  # what a till's number pad takes


def set_canteen_pin(conn: Connection, school_id: str, person_id: UUID, pin: str | None, *, actor: str) -> None:
    """Set (or withdraw, with None) a staff member's canteen PIN; hashing takes a good part of a second."""
    staff = conn.execute(
        select(people.c.id).where(
            people.c.school_id == school_id, people.c.id == person_id, people.c.role == "staff", people.c.active
        )
    ).first()
    if staff is None:
        raise DomainError("unknown_person")
    if pin is not None and not PIN_PATTERN.fullmatch(pin):
        raise DomainError("bad_pin")
    had = person_id in pins_of(conn, school_id, [person_id])
    if pin is None and not had:
        return
    now = datetime.now(UTC)
    conn.execute(
        insert(canteen_pins).values(
            school_id=school_id,
            person_id=person_id,
            pin_hash=None if pin is None else hash_pin(pin),
            version=next_version(conn, school_id),
            at=now,
            actor=actor,
        )
    )
    entry = AuditEntry("update", "canteen_pin", str(person_id), {"set": had}, {"set": pin is not None})
    write_audit(conn, school_id, actor, now, [entry])


def pins_of(conn: Connection, school_id: str, person_ids: Iterable[UUID] | None = None) -> dict[UUID, str]:
    """The PIN hash in force per staff member (those without one are left out)."""
    return in_force(conn, canteen_pins, school_id, "person_id", "pin_hash", person_ids)


class StaffPin(NamedTuple):
    """A staff member of the school, whether they have a canteen PIN, and whether their account works the canteen."""

    person_id: UUID
    name: str
    has_pin: bool
    login: str | None
    canteen: bool


def staff_pins(conn: Connection, school_id: str) -> list[StaffPin]:
    """The school's active staff, the canteen's first (those with a canteen staff account), then by name."""
    rows = conn.execute(
        select(people.c.id, people.c.last_name, people.c.first_name).where(
            people.c.school_id == school_id, people.c.role == "staff", people.c.active
        )
    ).all()
    ids = [r.id for r in rows]
    pins = pins_of(conn, school_id, ids)
    accounts = accounts_of_people(conn, school_id, ids)
    grants = grants_of(conn, [a.id for a in accounts.values()])  # one query for every account, not one each
    cooks = {
        person for person, account in accounts.items() if (Role.CANTEEN_STAFF, school_id) in grants.get(account.id, ())
    }
    found = [
        StaffPin(
            r.id,
            f"{r.last_name} {r.first_name}",
            r.id in pins,
            accounts[r.id].login if r.id in accounts else None,
            r.id in cooks,
        )
        for r in rows
    ]
    return sorted(found, key=lambda s: (not s.canteen, s.name.lower()))
