"""Cards and QR credentials of people: assign, block a lost one, replace it. The caller owns the transaction.

The cloud stores a credential the way the gateway reports it, as the keyed hash of the card number
(:func:`shared.contract.credential_hash`), so a card number never sits in either database. A
blocked or replaced card keeps its row: the gateway must answer "card blocked", not "unknown card",
when it is tapped again. Every change takes a roster version and is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import uuid_utils
from sqlalchemy import Connection, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import credentials, people
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.roster_versions import next_version
from shared.contract import CredentialKind

__all__ = [
    "CARD_HOLDERS",
    "BlockReason",
    "CardStatus",
    "assign_card",
    "block_card",
    "cards_of",
    "get_card",
    "number_hint",
    "replace_card",
    "replace_lost_card",
]


# Who taps at the school's readers (the roles the gateway's roster holds).
CARD_HOLDERS = frozenset({"student", "staff"})


class CardStatus(StrEnum):
    """Whether a card opens anything."""

    ACTIVE = "active"
    BLOCKED = "blocked"  # lost or stolen: refused at every reader
    REPLACED = "replaced"  # superseded by a new card: refused, and says so


class BlockReason(StrEnum):
    """Why a card was blocked, as the office records it."""

    LOST = "lost"
    STOLEN = "stolen"
    DAMAGED = "damaged"
    OTHER = "other"


def number_hint(number: str) -> str:
    """What of a card number the cloud keeps to tell cards apart: its last four characters, normalised as
    the hash normalises the number (:func:`shared.contract.credential_hash`)."""
    return number.strip().upper()[-4:]


def assign_card(
    conn: Connection,
    school_id: str,
    person_id: UUID,
    kind: CredentialKind,
    credential_hash: str,
    *,
    actor: str,
    hint: str | None = None,
) -> UUID:
    """Give a student or staff member a card (or a QR credential); its id.

    Refuses (``DomainError``) an unknown or inactive person (``unknown_person``), a guardian
    (``not_a_card_holder``) and a card that any row already has (``card_already_assigned``).
    """
    holder = conn.execute(
        select(people.c.role).where(people.c.school_id == school_id, people.c.id == person_id, people.c.active)
    ).first()
    if holder is None:
        raise DomainError("unknown_person")
    if holder.role not in CARD_HOLDERS:
        # The gateway holds students and staff only: a guardian's card would open nothing.
        raise DomainError("not_a_card_holder")
    taken = conn.execute(
        select(credentials.c.person_id).where(
            credentials.c.school_id == school_id, credentials.c.credential_hash == credential_hash
        )
    ).first()
    if taken is not None:
        raise DomainError("card_already_assigned")
    now = datetime.now(UTC)
    card_id = UUID(str(uuid_utils.uuid7()))
    row = {"person_id": str(person_id), "kind": kind.value, "status": CardStatus.ACTIVE.value, "number_hint": hint}
    conn.execute(
        insert(credentials).values(
            school_id=school_id,
            id=card_id,
            person_id=person_id,
            kind=kind.value,
            credential_hash=credential_hash,
            status=CardStatus.ACTIVE.value,
            number_hint=hint,
            version=next_version(conn, school_id),
            updated_at=now,
        )
    )
    write_audit(conn, school_id, actor, now, [AuditEntry("create", "credential", str(card_id), None, row)])
    return card_id


def block_card(
    conn: Connection, school_id: str, card_id: UUID, *, actor: str, reason: BlockReason | None = None
) -> UUID:
    """Block a lost or stolen card at every reader of the school (from the gateway's next sync); its holder."""
    person_id, _kind = _set_status(conn, school_id, card_id, CardStatus.BLOCKED, actor, reason)
    return person_id


def replace_card(
    conn: Connection,
    school_id: str,
    card_id: UUID,
    new_hash: str,
    *,
    actor: str,
    kind: CredentialKind | None = None,
    hint: str | None = None,
) -> UUID:
    """Retire a card and give its holder a new one, in one change; the new card's id."""
    person_id, old_kind = _set_status(conn, school_id, card_id, CardStatus.REPLACED, actor, None)
    return assign_card(conn, school_id, person_id, kind or CredentialKind(old_kind), new_hash, actor=actor, hint=hint)


def replace_lost_card(
    conn: Connection, school_id: str, card_id: UUID, new_hash: str, *, actor: str, hint: str | None = None
) -> UUID:
    """A lost card: block the old one (it may turn up in someone else's hand) and give a new one; its id.

    One change: a refused new card (already someone's) leaves the old one as it was, when the
    caller rolls the transaction back.
    """
    person_id, old_kind = _set_status(conn, school_id, card_id, CardStatus.BLOCKED, actor, BlockReason.LOST)
    return assign_card(conn, school_id, person_id, CredentialKind(old_kind), new_hash, actor=actor, hint=hint)


def _set_status(
    conn: Connection, school_id: str, card_id: UUID, status: CardStatus, actor: str, reason: BlockReason | None
) -> tuple[UUID, str]:
    where = (credentials.c.school_id == school_id, credentials.c.id == card_id)
    row = conn.execute(select(credentials.c.person_id, credentials.c.kind, credentials.c.status).where(*where)).first()
    if row is None:
        raise DomainError("unknown_card")
    if row.status != CardStatus.ACTIVE:
        raise DomainError("card_not_active")
    now = datetime.now(UTC)
    version = next_version(conn, school_id)
    conn.execute(
        update(credentials)
        .where(*where)
        .values(status=status.value, status_reason=reason, version=version, updated_at=now)
    )
    after = {"status": status.value} if reason is None else {"status": status.value, "reason": reason.value}
    entry = AuditEntry("update", "credential", str(card_id), {"status": row.status}, after)
    write_audit(conn, school_id, actor, now, [entry])
    return row.person_id, row.kind


def cards_of(conn: Connection, school_id: str, person_id: UUID) -> list[dict[str, Any]]:
    """A person's cards, newest first, every status (never the hash); ``unknown_person`` if none such."""
    known = conn.execute(select(people.c.id).where(people.c.school_id == school_id, people.c.id == person_id)).first()
    if known is None:
        raise DomainError("unknown_person")
    rows = conn.execute(
        select(
            credentials.c.id,
            credentials.c.person_id,
            credentials.c.kind,
            credentials.c.status,
            credentials.c.number_hint,
            credentials.c.status_reason,
            credentials.c.updated_at,
        )
        .where(credentials.c.school_id == school_id, credentials.c.person_id == person_id)
        .order_by(credentials.c.updated_at.desc(), credentials.c.id.desc())
    )
    return [dict(row._mapping) for row in rows]


def get_card(conn: Connection, school_id: str, card_id: UUID) -> dict[str, Any]:
    """One card of the school (never the hash); ``unknown_card`` if none such."""
    row = conn.execute(
        select(
            credentials.c.id,
            credentials.c.person_id,
            credentials.c.kind,
            credentials.c.status,
            credentials.c.number_hint,
            credentials.c.status_reason,
            credentials.c.updated_at,
        ).where(credentials.c.school_id == school_id, credentials.c.id == card_id)
    ).first()
    if row is None:
        raise DomainError("unknown_card")
    return dict(row._mapping)
