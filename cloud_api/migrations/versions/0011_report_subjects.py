"""Reports of regions and of the country beside the schools': a report's subject, not always a school.

``school_id`` of the report tables becomes ``subject``: the school (meals, attendance), the region
(kind ``region``) or ``KZ`` (kind ``country``). The kind tells which, so the keys cannot collide.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("reports", "report_deliveries", "report_warnings")


def upgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name) as table:
            table.alter_column("school_id", new_column_name="subject")


def downgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name) as table:
            table.alter_column("subject", new_column_name="school_id")
