"""A family's low-balance notice: the threshold each child's guardians chose, and the day they were last told.

``low_balance_thresholds`` holds a child's threshold (NULL: no notice; no row: the default);
``low_balance_notices`` the local day of the last notice, so that one goes at most once in two days.
On Citus both go by ``school_id`` with the school's ledger.

Revision ID: 0037
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create both tables."""
    op.create_table(
        "low_balance_thresholds",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("child_id", sa.Uuid(), primary_key=True),
        sa.Column("threshold_tiyn", sa.BigInteger()),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_table(
        "low_balance_notices",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("child_id", sa.Uuid(), primary_key=True),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
    )


def downgrade() -> None:
    """Drop them: the families' thresholds go back to the default, and the next low balance is told at once."""
    op.drop_table("low_balance_notices")
    op.drop_table("low_balance_thresholds")
