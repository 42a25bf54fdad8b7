"""Money in the office: how a top-up was paid, its receipt (once per school), and the day it was paid.

A top-up the school's administrator records says how the money came (``method``: cash or bank
transfer), the number of its receipt (``receipt``) and the day it was paid (``paid_on``, as the
receipt says; the entry's ``at`` is when it was recorded). A receipt number is recorded once in a
school (``balance_entries_receipt``): a double click or a form sent again never credits twice.
Earlier rows, the meals' charges and the corrections have none of these (a correction's reason is
its ``note``).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the top-up's method, receipt and day paid, and one receipt number a school."""
    with op.batch_alter_table("balance_entries") as batch:
        batch.add_column(sa.Column("method", sa.String(16)))
        batch.add_column(sa.Column("receipt", sa.String(64)))
        batch.add_column(sa.Column("paid_on", sa.Date()))
    op.create_index("balance_entries_receipt", "balance_entries", ["school_id", "receipt"], unique=True)


def downgrade() -> None:
    """Remove them again."""
    op.drop_index("balance_entries_receipt", table_name="balance_entries")
    with op.batch_alter_table("balance_entries") as batch:
        batch.drop_column("paid_on")
        batch.drop_column("receipt")
        batch.drop_column("method")
