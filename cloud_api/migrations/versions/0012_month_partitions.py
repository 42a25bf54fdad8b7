"""PostgreSQL: events and the daily rollups become partitioned by month.

See :mod:`cloud_api.db.partitions` for the keys. Each table is rebuilt as a partitioned table with
the same columns, keys and indexes, a default partition and the months of 2024–2027, and its rows
copied over. SQLite is left as it is.

Revision ID: 0012
Revises: 0011
"""

from datetime import date

from alembic import op
from sqlalchemy import text

from cloud_api.db.partitions import PARTITIONED, create_month, month_starts

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MONTHS = month_starts(date(2024, 1, 1), 48)


def _indexes(table: str) -> list[tuple[str, str]]:
    rows = op.get_bind().execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"),
        {"t": table},
    )
    return [(name, definition) for name, definition in rows]


def _rebuild(table: str, partition_by: str | None) -> None:
    """Move ``table`` aside, make it again (partitioned or not) with the same keys and indexes, copy."""
    old = f"{table}_before_0012"
    primary = (
        op.get_bind()
        .execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
                "AND contype = 'p'"
            ),
            {"t": table},
        )
        .one()
    )
    indexes = [(name, definition) for name, definition in _indexes(table) if name != primary[0]]
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    for name in [primary[0], *(name for name, _ in indexes)]:
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_before_0012"')
    spec = f" PARTITION BY RANGE ({partition_by})" if partition_by else ""
    op.execute(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS){spec}')
    # A partitioned table takes a primary key spelled out, not one built from an index.
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{primary[0]}" {primary[1]}')
    for _, definition in indexes:  # captured before the rename: they name the new table
        op.execute(definition)
    if partition_by:
        op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
        for month in MONTHS:
            create_month(op.get_bind(), table, month)
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    op.execute(f'DROP TABLE "{old}"')


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in PARTITIONED.items():
        _rebuild(table, column)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in PARTITIONED:
        _rebuild(table, None)
