"""The day's first entry and last exit also as local wall-clock "HH:MM", kept by ingest with the instants.

A month's attendance report shows some seventy thousand of them; reading text instead of converting
each instant to Asia/Almaty was most of the report's time.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollup_presence") as table:
        table.add_column(sa.Column("first_entry_local", sa.String(5)))
        table.add_column(sa.Column("last_exit_local", sa.String(5)))
    # Rows kept before this revision: the same text from the instants, in the database's own terms.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE rollup_presence SET"
            " first_entry_local = to_char(first_entry AT TIME ZONE 'Asia/Almaty', 'HH24:MI'),"
            " last_exit_local = to_char(last_exit AT TIME ZONE 'Asia/Almaty', 'HH24:MI')"
        )
    else:  # SQLite keeps UTC digits; Kazakhstan has been UTC+5 all year since 2024-03-01
        op.execute(
            "UPDATE rollup_presence SET"
            " first_entry_local = strftime('%H:%M', first_entry, '+5 hours'),"
            " last_exit_local = strftime('%H:%M', last_exit, '+5 hours')"
        )


def downgrade() -> None:
    with op.batch_alter_table("rollup_presence") as table:
        table.drop_column("last_exit_local")
        table.drop_column("first_entry_local")
