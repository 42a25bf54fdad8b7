"""What a student agreed a platform may learn, and its withdrawal (by the student or a guardian).

The first time a student signs in to a platform, the consent page lists the claims the platform
asks for; what the student agrees to is a grant. The next sign-ins ask nothing while the grant
covers what is asked. A withdrawal keeps the row (who withdrew it and when): the platform gets no
more sign-ins for that student until a new agreement. A guardian of a student under 16 may
withdraw for the child; then the child cannot agree again on their own until a guardian allows the
platform again (:func:`lift_block`). Every change is journalled. The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, func, insert, select, update

from cloud_api.db.schema import integration_clients, oidc_grants
from cloud_api.integrations.clients import CLAIMS
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "Agreement",
    "Platform",
    "grant_in_force",
    "is_blocked",
    "lift_block",
    "platforms_of",
    "record_grant",
    "students_agreed",
    "withdraw",
]


@dataclass(frozen=True)
class Platform:
    """A platform as its user (or their guardian) sees it: what it gets, since when, or that it is stopped."""

    client_id: str
    name: str
    claims: tuple[str, ...]
    granted_at: datetime | None
    blocked: bool


def _in_force(account_id: UUID, client_id: str) -> object:
    return (
        (oidc_grants.c.account_id == account_id)
        & (oidc_grants.c.client_id == client_id)
        & oidc_grants.c.withdrawn_at.is_(None)
    )


@dataclass(frozen=True)
class Agreement:
    """An agreement in force: the claims agreed to, out of those the consent page offered."""

    claims: tuple[str, ...]
    offered: tuple[str, ...]

    def covers(self, asked: Iterable[str]) -> bool:
        """Whether the student already answered for every claim of ``asked`` (yes or no)."""
        return set(asked) <= set(self.offered)


def grant_in_force(conn: Connection, account_id: UUID, client_id: str) -> Agreement | None:
    """What the account agreed ``client_id`` may learn, or None when there is no agreement in force."""
    row = conn.execute(
        select(oidc_grants.c.claims, oidc_grants.c.offered).where(_in_force(account_id, client_id))
    ).first()
    return None if row is None else Agreement(tuple(row.claims), tuple(row.offered))


def students_agreed(conn: Connection, client_id: str) -> int:
    """How many students have an agreement with ``client_id`` in force (the office's count, no names)."""
    agreed = select(func.count(func.distinct(oidc_grants.c.account_id))).where(
        oidc_grants.c.client_id == client_id, oidc_grants.c.withdrawn_at.is_(None)
    )
    return int(conn.execute(agreed).scalar_one())


def is_blocked(conn: Connection, account_id: UUID, client_id: str) -> bool:
    """Whether a guardian withdrew the platform and has not allowed it again."""
    found = conn.execute(
        select(oidc_grants.c.id).where(
            oidc_grants.c.account_id == account_id,
            oidc_grants.c.client_id == client_id,
            oidc_grants.c.guardian_block.is_(True),
            oidc_grants.c.block_lifted_at.is_(None),
        )
    ).first()
    return found is not None


def record_grant(
    conn: Connection,
    account_id: UUID,
    client_id: str,
    claims: Iterable[str],
    *,
    offered: Iterable[str],
    school_id: str,
    now: datetime,
) -> Agreement:
    """The student agrees ``client_id`` may learn ``claims`` out of ``offered`` (known claims only).

    An agreement in force is replaced (withdrawn by the student, and a new row).
    """
    shown = tuple(sorted({c for c in offered if c in CLAIMS}))
    kept = tuple(sorted({c for c in claims if c in shown}))
    actor = f"account:{account_id}"
    current = grant_in_force(conn, account_id, client_id)
    if current is not None:
        conn.execute(
            update(oidc_grants).where(_in_force(account_id, client_id)).values(withdrawn_at=now, withdrawn_by=actor)
        )
    grant_id = uuid.uuid4()
    conn.execute(
        insert(oidc_grants).values(
            account_id=account_id,
            id=grant_id,
            client_id=client_id,
            claims=list(kept),
            offered=list(shown),
            granted_at=now,
            granted_by=actor,
        )
    )
    before = None if current is None else {"client_id": client_id, "claims": list(current.claims)}
    after = {"client_id": client_id, "claims": list(kept)}
    write_audit(conn, school_id, actor, now, [AuditEntry("create", "oidc_grant", str(account_id), before, after)])
    return Agreement(kept, shown)


def withdraw(
    conn: Connection,
    account_id: UUID,
    client_id: str,
    *,
    actor: str,
    school_id: str,
    now: datetime,
    by_guardian: bool = False,
) -> bool:
    """Withdraw the agreement in force (``by_guardian``: the child may not agree again alone); whether one was."""
    done = conn.execute(
        update(oidc_grants)
        .where(_in_force(account_id, client_id))
        .values(withdrawn_at=now, withdrawn_by=actor, guardian_block=by_guardian)
    ).rowcount
    if done:
        before = {"client_id": client_id}
        after = {"client_id": client_id, "withdrawn": True, "by_guardian": by_guardian}
        write_audit(conn, school_id, actor, now, [AuditEntry("update", "oidc_grant", str(account_id), before, after)])
    return bool(done)


def lift_block(
    conn: Connection, account_id: UUID, client_id: str, *, actor: str, school_id: str, now: datetime
) -> bool:
    """A guardian allows the platform again: the child will be asked to agree at the next sign-in."""
    done = conn.execute(
        update(oidc_grants)
        .where(
            oidc_grants.c.account_id == account_id,
            oidc_grants.c.client_id == client_id,
            oidc_grants.c.guardian_block.is_(True),
            oidc_grants.c.block_lifted_at.is_(None),
        )
        .values(block_lifted_at=now, block_lifted_by=actor)
    ).rowcount
    if done:
        after = {"client_id": client_id, "allowed_again": True}
        write_audit(conn, school_id, actor, now, [AuditEntry("update", "oidc_grant", str(account_id), None, after)])
    return bool(done)


def platforms_of(conn: Connection, account_id: UUID) -> list[Platform]:
    """The platforms the account agreed to (in force) or a guardian stopped, by name."""
    rows = conn.execute(
        select(oidc_grants, integration_clients.c.name)
        .join(integration_clients, integration_clients.c.client_id == oidc_grants.c.client_id)
        .where(oidc_grants.c.account_id == account_id)
        .order_by(oidc_grants.c.granted_at)
    ).all()
    found: dict[str, Platform | None] = {}
    for row in rows:  # oldest first: a platform's newest row says where it stands
        blocked = bool(row.guardian_block) and row.block_lifted_at is None
        if row.withdrawn_at is None or blocked:
            when = None if blocked else row.granted_at
            found[row.client_id] = Platform(row.client_id, row.name, tuple(row.claims), when, blocked)
        else:
            found[row.client_id] = None
    shown = [p for p in found.values() if p is not None]
    return sorted(shown, key=lambda p: (p.name, p.client_id))
