"""Column types that keep the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, DateTime, Dialect, Integer, String, Text
from sqlalchemy.types import TypeDecorator

from cloud_api.core.data_keys import DataKeys

__all__ = [
    "BigIntegerId",
    "Encrypted",
    "EncryptedJSON",
    "EncryptedText",
    "UTCDateTime",
    "attach_data_keys",
    "data_keys",
]

# An autoincrementing 64-bit id: SQLite only autoincrements a column spelled INTEGER PRIMARY KEY
# (already 64-bit there), PostgreSQL needs BIGINT to outlive 2^31 packets.
BigIntegerId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend.

    PostgreSQL's ``timestamptz`` converts on its own, but SQLite stores the wall-clock digits and
    drops the offset: ``08:00+05:00`` would come back as a naive ``08:00``. So bind values are
    converted to UTC first and naive results are read as UTC. A naive value is a bug: refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware datetime → the same instant in UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the cloud stores instants, give an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Whatever the driver returns → an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def attach_data_keys(dialect: Dialect, keys: DataKeys) -> None:
    """Give an engine's dialect the keys its :class:`Encrypted` columns read and write with.

    The dialect, because it is what a type sees of its engine: each engine has its own, so a test's
    engine and the app's never share keys by accident.
    """
    dialect.mektep_data_keys = keys  # type: ignore[attr-defined]


def data_keys(conn: Connection | Dialect) -> DataKeys:
    """The keys of ``conn``'s engine (for a blind index); a clear error when it was made without."""
    dialect = conn.dialect if isinstance(conn, Connection) else conn
    keys: DataKeys | None = getattr(dialect, "mektep_data_keys", None)
    if keys is None:
        raise RuntimeError("this engine has no data keys: make it with cloud_api.db.engine.make_engine")
    return keys


class Encrypted(TypeDecorator[str]):
    """Text encrypted at rest with the engine's data keys (``cloud_api.core.data_keys``).

    ``where`` (``table.column``) is the associated data: a ciphertext moved to another column fails.
    Compare such a column only through its blind index: equal values never have equal ciphertexts.
    """

    impl = String
    cache_ok = True

    class Comparator(TypeDecorator.Comparator[str]):
        """Refuses comparisons: a ciphertext never equals another, so ``iin == x`` would find nothing, silently."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            """Refused: compare the column's blind index instead."""
            raise TypeError(f"an encrypted column cannot be compared ({op.__name__}): use its blind index")

    comparator_factory = Comparator

    def __init__(self, where: str, length: int) -> None:
        super().__init__(length)
        self.where = where

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """The clear value → its ciphertext under the current key."""
        return None if value is None else data_keys(dialect).encrypt(self.where, value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The stored ciphertext → the clear value (any key held)."""
        return None if value is None else data_keys(dialect).decrypt(self.where, value)


class EncryptedText(Encrypted):
    """:class:`Encrypted` of unbounded length (a private key's PEM)."""

    impl = Text
    cache_ok = True

    def __init__(self, where: str) -> None:
        TypeDecorator.__init__(self)
        self.where = where


class EncryptedJSON(EncryptedText):
    """A JSON document encrypted at rest: serialised, then sealed as :class:`Encrypted` (``table.column``).

    For what holds personal data in a shape of its own: the Social Wallet's registrations (the
    child's IIN), the audit journal's before and after (IINs, phones, e-mails). None is SQL NULL.
    Nothing can be asked of it in SQL, neither a comparison nor a key (``payload["x"]``): what a
    query filters on belongs in a column of its own.
    """

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:  # type: ignore[override]
        """The document → its JSON text's ciphertext under the current key."""
        if value is None:
            return None
        return data_keys(dialect).encrypt(self.where, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """The stored ciphertext → the document (any key held)."""
        return None if value is None else json.loads(data_keys(dialect).decrypt(self.where, value))
