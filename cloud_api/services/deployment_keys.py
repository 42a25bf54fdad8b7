"""The deployment's own keys (VAPID for Web Push, Ed25519 for reports), made once and kept in the database.

Every API process reads the same key; when two start at once, the first insert wins and the other
reads it back. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import deployment_keys

__all__ = ["KeyPair", "ensure_key", "stored_key"]

KeyPair = tuple[str, str]  # (private key PEM, public key as the key's users write it)


def stored_key(conn: Connection, name: str) -> KeyPair | None:
    """The key called ``name``, or None before it is made."""
    row = conn.execute(
        select(deployment_keys.c.private_pem, deployment_keys.c.public).where(deployment_keys.c.name == name)
    ).first()
    return None if row is None else (str(row.private_pem), str(row.public))


def ensure_key(conn: Connection, name: str, make: Callable[[], KeyPair]) -> tuple[KeyPair, bool]:
    """The key called ``name``, made with ``make()`` if there is none; and whether it was made now."""
    found = stored_key(conn, name)
    if found is not None:
        return found, False
    pem, public = make()
    made = conn.execute(
        dialect_insert(conn, deployment_keys)
        .values(name=name, private_pem=pem, public=public, created_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(deployment_keys.c.name)
    ).scalar()
    if made is None:  # another process made it first
        stored = stored_key(conn, name)
        assert stored is not None
        return stored, False
    return (pem, public), True
