"""Covering indexes for a school's month of rollups: the report reads them from the index alone.

A big school's month is some 80,000 meal rows and 70,000 presence rows. Read through the primary
key, each row is a second look-up in the table; these indexes hold every column the report reads,
in the order it groups them, so the month is one range of one index (``EXPLAIN QUERY PLAN``: "USING
COVERING INDEX").

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MEALS = ["school_id", "local_date", "category", "person_key", "period", "portions", "paid_tiyn"]
PRESENCE = ["school_id", "local_date", "person_key", "role", "first_entry_local", "last_exit_local"]


def upgrade() -> None:
    op.create_index("rollup_meal_eaters_report", "rollup_meal_eaters", MEALS)
    op.create_index("rollup_presence_report", "rollup_presence", PRESENCE)


def downgrade() -> None:
    op.drop_index("rollup_presence_report", table_name="rollup_presence")
    op.drop_index("rollup_meal_eaters_report", table_name="rollup_meal_eaters")
