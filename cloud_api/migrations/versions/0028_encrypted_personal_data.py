"""Personal data encrypted at rest: IINs, guardians' phones and e-mails, private keys, gateway keys.

``people.iin``, ``people.phone``, ``people.email``, ``accounts.email``, ``gateways.key`` and
``deployment_keys.private_pem`` hold AES-GCM ciphertexts (``cloud_api.core.data_keys``) from now on,
so their columns widen; ``people.iin_index`` is the IIN's blind index, unique in a school in place of
the IIN itself. The rows written before are encrypted here, in batches, with the keys of the
migration's engine: ``cloud_api.db.migrate.upgrade`` passes the settings' (``MEKTEP_CLOUD_DATA_KEY``),
so ``mektep cloud migrate`` and the app's start-up encrypt under the deployment's own key. A value
already encrypted is left alone: running it again changes nothing.

The downgrade decrypts them again (with the same keys) and restores the clear columns.

Revision ID: 0028
Revises: 0026
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from cloud_api.core.data_keys import DataKeys, is_encrypted
from cloud_api.db.types import data_keys

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

BATCH = 500

# (table, key columns, encrypted columns with their clear and encrypted widths; None: TEXT)
_COLUMNS: list[tuple[str, tuple[str, ...], list[tuple[str, int | None, int | None]]]] = [
    ("people", ("school_id", "id"), [("iin", 12, 96), ("phone", 16, 96), ("email", 254, 512)]),
    ("accounts", ("id",), [("email", 254, 512)]),
    ("gateways", ("gateway_id",), [("key", 256, 512)]),
    ("deployment_keys", ("name",), [("private_pem", None, None)]),
]


def _type(width: int | None) -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.Text() if width is None else sa.String(width)


def _rewrite(table_name: str, keys: tuple[str, ...], columns: list[str], change: Callable[[str, str], str]) -> None:
    """Apply ``change(where, value)`` to every non-null value of ``columns``, a batch at a time."""
    bind = op.get_bind()
    table = sa.table(table_name, *(sa.column(c) for c in (*keys, *columns, "iin_index")))
    wanted = [table.c[c] for c in (*keys, *columns)]
    rows = bind.execute(sa.select(*wanted)).all()  # keys and short values: a school's few thousand rows each
    for start in range(0, len(rows), BATCH):
        for row in rows[start : start + BATCH]:
            values = {}
            for name in columns:
                value = getattr(row, name)
                if value is not None:
                    values[name] = change(f"{table_name}.{name}", value)
            if table_name == "people" and "iin" in values:
                values["iin_index"] = _iin_index(data_keys(bind), row.iin)
            if values:
                where = sa.and_(*(table.c[k] == getattr(row, k) for k in keys))
                bind.execute(sa.update(table).where(where).values(**values))


def _iin_index(keys: DataKeys, stored: str) -> str:
    clear = keys.decrypt("people.iin", stored) if is_encrypted(stored) else stored
    return keys.index("iin", clear.strip())


def upgrade() -> None:
    """Widen the columns, add the IIN's blind index, encrypt every clear value."""
    keys = data_keys(op.get_bind())
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("iin_index", sa.String(64)))
    for table, _keys, columns in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            for name, clear, encrypted in columns:
                if clear != encrypted:
                    batch.alter_column(name, type_=_type(encrypted), existing_type=_type(clear))

    def encrypt(where: str, value: str) -> str:
        return value if is_encrypted(value) else keys.encrypt(where, value)

    for table, key_columns, columns in _COLUMNS:
        _rewrite(table, key_columns, [c for c, _, _ in columns], encrypt)
    with op.batch_alter_table("people") as batch:
        batch.alter_column("iin_index", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("people_school_iin", type_="unique")
        batch.create_unique_constraint("people_school_iin_index", ["school_id", "iin_index"])


def downgrade() -> None:
    """Decrypt every value and narrow the columns again; the blind index goes."""
    keys = data_keys(op.get_bind())

    def decrypt(where: str, value: str) -> str:
        return keys.decrypt(where, value) if is_encrypted(value) else value

    for table, key_columns, columns in _COLUMNS:
        _rewrite(table, key_columns, [c for c, _, _ in columns], decrypt)
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("people_school_iin_index", type_="unique")
        batch.create_unique_constraint("people_school_iin", ["school_id", "iin"])
        batch.drop_column("iin_index")
    for table, _keys, columns in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            for name, clear, encrypted in columns:
                if clear != encrypted:
                    batch.alter_column(name, type_=_type(clear), existing_type=_type(encrypted))
