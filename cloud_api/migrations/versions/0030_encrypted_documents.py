"""Personal data encrypted at rest, continued: the Social Wallet's registrations and the audit journal.

``wallet_outbox.payload`` (the MealRegistration sent to the Wallet: the child's IIN) and
``audit_log.before`` / ``audit_log.after`` (a roster import's or an IIN correction's IINs, phones and
e-mails) become :class:`~cloud_api.db.types.EncryptedJSON`: the document's JSON text sealed with
AES-GCM (``cloud_api.core.data_keys``, associated data ``table.column``), in a TEXT column. Nothing
filters on or extracts from these documents in SQL, so nothing else changes.

The columns turn into TEXT first (on PostgreSQL and Citus ``USING col::text``: the JSON's own text;
the columns are not distribution columns, so Citus alters every shard in place), then the rows are
encrypted with the keys of the migration's engine, as 0028 does. A Wallet's outbox holds a row per
free meal, so the rows are walked by primary key a batch at a time and written back with one
executemany per batch, never read whole. A stored JSON text never starts with ``e1:``, a ciphertext
always does: running it again skips what is done.

The downgrade decrypts them and turns the columns back into JSON.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from cloud_api.core.data_keys import PREFIX
from cloud_api.db.types import data_keys

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

BATCH = 1000

# (table, primary key, encrypted document columns, whether they are nullable)
_COLUMNS: list[tuple[str, tuple[str, ...], tuple[str, ...], bool]] = [
    ("wallet_outbox", ("school_id", "record_id"), ("payload",), False),
    ("audit_log", ("school_id", "id"), ("before", "after"), True),  # with school_id: one shard a row on Citus
]


def _rewrite(table_name: str, keys: tuple[str, ...], name: str, done: bool, change: Callable[[str], str]) -> None:
    """``change`` every value of ``table_name.name`` that is (``done``) or is not yet encrypted, by key order."""
    bind = op.get_bind()
    table = sa.table(table_name, *(sa.column(c) for c in (*keys, name)))
    value = table.c[name]
    encrypted = value.like(PREFIX + ":%")
    wanted = sa.and_(value.is_not(None), encrypted if done else sa.not_(encrypted))
    ordering = [table.c[k] for k in keys]
    write = (
        sa.update(table)
        .where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
        .values({name: sa.bindparam("v_value")})
    )
    last: tuple[object, ...] | None = None
    while True:
        query = sa.select(*ordering, value).where(wanted).order_by(*ordering).limit(BATCH)
        if last is not None:  # keyset: each batch starts past the last, never a scan from the start
            query = query.where(sa.tuple_(*ordering) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = bind.execute(query).all()
        if not rows:
            return
        bind.execute(
            write,
            [{**{f"k_{k}": row[i] for i, k in enumerate(keys)}, "v_value": change(row[-1])} for row in rows],
        )
        last = tuple(rows[-1][: len(keys)])


def _alter(table: str, name: str, nullable: bool, *, to_text: bool) -> None:
    old, new = (sa.JSON(), sa.Text()) if to_text else (sa.Text(), sa.JSON())
    with op.batch_alter_table(table) as batch:
        batch.alter_column(
            name,
            type_=new,
            existing_type=old,
            existing_nullable=nullable,
            postgresql_using=f'"{name}"::{"text" if to_text else "json"}',
        )


def upgrade() -> None:
    """Turn the documents' columns into TEXT and encrypt every clear document."""
    keys = data_keys(op.get_bind())
    for table, key_columns, names, nullable in _COLUMNS:
        for name in names:
            _alter(table, name, nullable, to_text=True)
            where = f"{table}.{name}"
            _rewrite(table, key_columns, name, False, lambda clear, where=where: keys.encrypt(where, clear))


def downgrade() -> None:
    """Decrypt every document and turn the columns back into JSON."""
    keys = data_keys(op.get_bind())
    for table, key_columns, names, nullable in _COLUMNS:
        for name in names:
            where = f"{table}.{name}"
            _rewrite(table, key_columns, name, True, lambda stored, where=where: keys.decrypt(where, stored))
            _alter(table, name, nullable, to_text=False)
