"""Family notices that are no event: a low balance, a child not arrived, a child gone early.

- ``push_queue.facts`` holds what such a notice says; its ``event_id`` is a name-based UUID of the
  notice's kind, child and key, so that the unique (school, event) key queues it once.
- ``notification_settings.money`` and ``.absences``: whether a guardian wants them (on by default,
  as entries and meals are).

Revision ID: 0036
Revises: 0035
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns."""
    with op.batch_alter_table("push_queue") as table:
        table.add_column(sa.Column("facts", sa.JSON()))
    with op.batch_alter_table("notification_settings") as table:
        table.add_column(sa.Column("money", sa.Boolean(), nullable=False, server_default=sa.true()))
        table.add_column(sa.Column("absences", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("notification_settings") as table:
        table.drop_column("absences")
        table.drop_column("money")
    with op.batch_alter_table("push_queue") as table:
        table.drop_column("facts")
