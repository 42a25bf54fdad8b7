"""A dish's category (main, drink, pastry, sweets, fruit): parents will be able to forbid one.

Dishes stored before have none, and are read as "main" (the contract's default), so that old data
and gateways of an older release keep working.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the dish versions' category."""
    with op.batch_alter_table("dish_versions") as batch:
        batch.add_column(sa.Column("category", sa.String(16)))


def downgrade() -> None:
    """Drop the dish versions' category."""
    with op.batch_alter_table("dish_versions") as batch:
        batch.drop_column("category")
