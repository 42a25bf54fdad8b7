"""Each child's Social Wallet voucher: the id the Wallet's dynamic QR code names.

The gateway verifies a code offline (:mod:`shared.wallet_qr`) and must know whose voucher it
names, so the cloud sends each student's voucher id with the roster. The cloud learns it from the
Wallet, which identifies children by IIN: ``GET {wallet}/v1/vouchers?iin=…`` answers the voucher
the Wallet issued the child (404: none, the child has no Wallet voucher). :func:`refresh_vouchers`
asks for the school's students who have none yet and keeps what the Wallet answers; the operator
runs it after a roster import (``mektep cloud wallet-vouchers``). A school that gets the ids
another way (a file from the operator) records them with :func:`set_voucher`.

The ids are kept as history (append-only, newest in force, NULL: withdrawn); each change takes a
roster version, so the gateways learn it at their next pull. The caller owns the transaction,
and no HTTP request is ever made inside one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import httpx
from sqlalchemy import Connection, Engine, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import people, wallet_vouchers
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.history import in_force
from cloud_api.services.roster_versions import next_version

__all__ = ["VOUCHERS_PATH", "Refreshed", "ask_wallet", "refresh_vouchers", "set_voucher", "vouchers_of"]

VOUCHERS_PATH = "/v1/vouchers"


def vouchers_of(conn: Connection, school_id: str, child_ids: Iterable[UUID] | None = None) -> dict[UUID, UUID]:
    """The voucher in force per child (children without one left out)."""
    return in_force(conn, wallet_vouchers, school_id, "child_id", "voucher_id", child_ids)


def set_voucher(conn: Connection, school_id: str, child_id: UUID, voucher_id: UUID | None, *, actor: str) -> bool:
    """Record a child's voucher (None: withdrawn); False when it was already so."""
    student = conn.execute(
        select(people.c.id).where(people.c.school_id == school_id, people.c.id == child_id, people.c.role == "student")
    ).first()
    if student is None:
        raise DomainError("unknown_person")
    before = vouchers_of(conn, school_id, [child_id]).get(child_id)
    if before == voucher_id:
        return False
    now = datetime.now(UTC)
    conn.execute(
        insert(wallet_vouchers).values(
            school_id=school_id,
            child_id=child_id,
            voucher_id=voucher_id,
            version=next_version(conn, school_id),
            at=now,
            actor=actor,
        )
    )
    entry = AuditEntry(
        "update",
        "wallet_voucher",
        str(child_id),
        {"voucher": None if before is None else str(before)},
        {"voucher": None if voucher_id is None else str(voucher_id)},
    )
    write_audit(conn, school_id, actor, now, [entry])
    return True


def ask_wallet(client: httpx.Client, iin: str) -> UUID | None:
    """The voucher the Wallet issued the child with ``iin`` (None: it has none). Raises on any other answer."""
    response = client.get(VOUCHERS_PATH, params={"iin": iin})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return UUID(response.json()["voucher_id"])


class Refreshed(NamedTuple):
    """What a refresh did: students asked about, vouchers recorded, students the Wallet has none for."""

    asked: int
    recorded: int
    without: int


def refresh_vouchers(engine: Engine, school_id: str, client: httpx.Client, *, actor: str) -> Refreshed:
    """Ask the Wallet for the voucher of each active student of the school who has none; keep the answers.

    One transaction reads who to ask, none is open while the Wallet answers, and one records the
    answers: a Wallet that fails half-way leaves what it answered recorded, and the next run asks
    for the rest.
    """
    with engine.begin() as conn:
        students = conn.execute(
            select(people.c.id, people.c.iin).where(
                people.c.school_id == school_id, people.c.role == "student", people.c.active
            )
        ).all()
        have = vouchers_of(conn, school_id)
    answers: dict[UUID, UUID] = {}
    without = 0
    try:
        for student in students:
            if student.id in have:
                continue
            voucher = ask_wallet(client, student.iin)
            if voucher is None:
                without += 1
            else:
                answers[student.id] = voucher
    finally:
        with engine.begin() as conn:
            recorded = sum(set_voucher(conn, school_id, child, v, actor=actor) for child, v in answers.items())
    return Refreshed(len(students) - len(have), recorded, without)
