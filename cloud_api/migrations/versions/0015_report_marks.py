"""What each report was last drafted from, so that the hourly job drafts only what changed.

``month_versions`` numbers every change to a school's month of inputs (an ingest batch with events
of the month, a set meal of one of its days); ``report_marks`` keeps, per report, the mark of the
inputs its last draft read. Before, the job drafted every school's reports of the month before
every hour all month (about a second a school), unchanged or not.

A report with no mark yet is drafted at the next run, as before: nothing to move over.

The job also asks, every hour and of every school, which gateways were not heard from since the
month ended: indexes of gateways by school and of packets by gateway and time make that one probe
a gateway instead of a grouping of the whole packet log.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "month_versions",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "report_marks",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("mark", sa.String(128), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("gateways_school", "gateways", ["school_id"])
    columns = ["gateway_id", "received_at"]
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("packets_gateway_received_at", "packets", columns)
        return
    # The packet log keeps every batch for the retention period: a plain CREATE INDEX would hold every
    # gateway's ingest until it is built. CONCURRENTLY lets batches in meanwhile, outside a transaction.
    with op.get_context().autocommit_block():
        op.create_index("packets_gateway_received_at", "packets", columns, postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index("gateways_school", table_name="gateways")
    op.drop_index("packets_gateway_received_at", table_name="packets")
    op.drop_table("report_marks")
    op.drop_table("month_versions")
