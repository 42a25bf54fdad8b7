"""``mektep cloud rotate-key``: re-encrypt and re-index every value under the current data key.

The app keeps serving while it runs: the settings hold the new key (``data_key``, which writes) and
the old ones (``data_key_previous``, still read), so every process reads rows of either key and a
lookup by IIN asks for both blind indexes (``cloud_api.core.data_keys``). The rotation walks each
table with encrypted columns (every :class:`~cloud_api.db.types.Encrypted` column of the schema) in
small batches, each its own transaction: it reads the stored ciphertexts of rows not under the
current key, and writes each row's values again, with the IIN's blind index beside its IIN, only if
they are still what it read (a compare-and-set: a row the app changed meanwhile is read again in the
next round, never overwritten with older data). No row lock is taken, so it works the same on
Citus, which cannot lock rows across shards. When it reports nothing left, the old key may leave the
settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, and_, column, or_, select, table, update
from sqlalchemy.sql.expression import TableClause

from cloud_api.core.data_keys import PREFIX, DataKeys
from cloud_api.db.schema import metadata
from cloud_api.db.types import Encrypted, data_keys

__all__ = ["BLIND_INDEXES", "RotationReport", "rotate_keys"]

# An encrypted column with a blind index: (table, column) -> (index column, index purpose).
BLIND_INDEXES = {("people", "iin"): ("iin_index", "iin")}


@dataclass
class RotationReport:
    """What a rotation did: rows rewritten per table, and rows it met changed by the app (read again)."""

    rewritten: dict[str, int] = field(default_factory=dict)
    raced: int = 0


def _encrypted_tables() -> list[tuple[Table, list[str]]]:
    found = []
    for each in metadata.sorted_tables:
        names = [c.name for c in each.columns if isinstance(c.type, Encrypted)]
        if names:
            found.append((each, names))
    return found


def rotate_keys(
    engine: Engine, *, batch: int = 200, progress: Callable[[str, int], None] = lambda _t, _n: None
) -> RotationReport:
    """Re-encrypt every value not under the current key, ``batch`` rows a transaction; see the module."""
    keys = data_keys(engine.dialect)
    current = f"{PREFIX}:{keys.current.id}:"
    report = RotationReport()
    for schema_table, names in _encrypted_tables():
        keyed = [c.name for c in schema_table.primary_key.columns]
        indexes = [BLIND_INDEXES[(schema_table.name, n)][0] for n in names if (schema_table.name, n) in BLIND_INDEXES]
        # The raw columns: the stored ciphertexts, not the type's decrypted values.
        raw = table(schema_table.name, *(column(n) for n in (*keyed, *names, *indexes)))
        stale = or_(*(and_(raw.c[n].is_not(None), raw.c[n].not_like(current + "%")) for n in names))
        done = 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(*(raw.c[n] for n in (*keyed, *names))).where(stale).order_by(*keyed).limit(batch)
                ).all()
                raced = 0
                for row in rows:
                    if _rewrite_row(conn, raw, schema_table.name, keyed, names, row, keys):
                        done += 1
                    else:
                        raced += 1
            report.raced += raced
            progress(schema_table.name, len(rows))
            # A row the app changed meanwhile is still stale (the app wrote only what it changed): the
            # next batch reads it again, so a short batch ends the table only when nothing raced.
            if len(rows) < batch and not raced:
                break
        report.rewritten[schema_table.name] = done
    return report


def _rewrite_row(
    conn: Connection, raw: TableClause, name: str, keyed: list[str], names: list[str], row: Row[Any], keys: DataKeys
) -> bool:
    values: dict[str, str | None] = {}
    for each in names:
        stored = getattr(row, each)
        if stored is None:
            continue
        where = f"{name}.{each}"
        clear = keys.decrypt(where, stored)
        values[each] = keys.encrypt(where, clear)
        if (name, each) in BLIND_INDEXES:
            index_column, purpose = BLIND_INDEXES[(name, each)]
            values[index_column] = keys.index(purpose, clear.strip())
    unchanged = [raw.c[n].is_not_distinct_from(getattr(row, n)) for n in names]
    same_row = [raw.c[k] == getattr(row, k) for k in keyed]
    result = conn.execute(update(raw).where(*same_row, *unchanged).values(**values))
    return bool(result.rowcount)
