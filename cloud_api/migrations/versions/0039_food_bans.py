"""Kinds of dish a guardian forbids, and what a refusal names.

``allergen_bans.categories``: the kinds of dish (sweets, pastry, ...) forbidden with the allergens,
in the same history row, so that a child's restrictions at any moment are one row. NULL in the
rows written before: no kind forbidden. ``events.reason_detail``: the allergens or kinds of dish a
refused meal held, as the gateway named them (NULL: nothing named).

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add both columns: nullable, no default, so no row is rewritten (SQLite, PostgreSQL, Citus)."""
    op.add_column("allergen_bans", sa.Column("categories", sa.JSON))
    op.add_column("events", sa.Column("reason_detail", sa.JSON))


def downgrade() -> None:
    """Drop both columns."""
    with op.batch_alter_table("events") as batch:
        batch.drop_column("reason_detail")
    with op.batch_alter_table("allergen_bans") as batch:
        batch.drop_column("categories")
