"""The Social Wallet in the office: since when sending fails, and indexes for the wallet page.

``wallet_outbox.failing_since``: when the sender first failed to reach the Wallet with a record
that is still waiting (kept across rounds, cleared once the Wallet answers). The office's status
panel shows the oldest of a school's as "the Wallet has not answered since".

Indexes: a school's records by state (how many wait, how many were refused: the refused list and
the counts read these, not every record the school ever sent), and a school's receipts by when
they were kept (the last receipt is the newest entry, not a scan of the school's receipts), and
a school's state-paid meals by day (the month's табель reads one month, not the school's years).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the outbox's failing_since and the two indexes of the wallet page."""
    with op.batch_alter_table("wallet_outbox") as batch:
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True)))
    op.create_index("wallet_outbox_school_status", "wallet_outbox", ["school_id", "status", "local_date"])
    op.create_index("wallet_receipts_school_stored", "wallet_receipts", ["school_id", "stored_at"])
    op.create_index("free_meals_school_day", "free_meals", ["school_id", "local_date"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("free_meals_school_day", table_name="free_meals")
    op.drop_index("wallet_receipts_school_stored", table_name="wallet_receipts")
    op.drop_index("wallet_outbox_school_status", table_name="wallet_outbox")
    with op.batch_alter_table("wallet_outbox") as batch:
        batch.drop_column("failing_since")
