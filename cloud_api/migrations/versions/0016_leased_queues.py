"""Every outbound delivery works from one kind of leased queue (``cloud_api.background.queue``).

A queued row stays ``pending`` until it is settled; its lease column says when it may be claimed
(again): empty or past, it is due. Report deliveries get that column (``due_at``) and become rows
of their queue from the moment a version is issued for a receiver, so that several API processes
share them as they share push notices and Social Wallet records. Push notices no longer have a
``working`` state: a claimed notice is ``pending`` with its lease in ``due_at``, which it already had.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("report_deliveries", sa.Column("due_at", sa.DateTime(timezone=True)))
    op.create_index("report_deliveries_due", "report_deliveries", ["state", "due_at"])
    op.execute(sa.text("UPDATE push_queue SET state = 'pending' WHERE state = 'working'"))


def downgrade() -> None:
    op.drop_index("report_deliveries_due", table_name="report_deliveries")
    op.drop_column("report_deliveries", "due_at")
