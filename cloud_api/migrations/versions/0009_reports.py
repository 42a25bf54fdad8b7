"""The monthly reports: daily rollups kept by ingest, issued versions, deliveries, warnings; schools and regions.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollup_presence",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("person_key", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("first_entry", INSTANT),
        sa.Column("last_exit", INSTANT),
    )
    op.create_table(
        "rollup_meal_eaters",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("person_key", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(16), primary_key=True),
        sa.Column("portions", sa.Integer, nullable=False),
        sa.Column("paid_tiyn", sa.BigInteger, nullable=False),
        sa.Column("dishes", sa.JSON, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("missing_gateways", sa.JSON, nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
    )
    op.create_table(
        "report_deliveries",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("receiver", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(300)),
        sa.Column("receipt", sa.JSON),
        sa.Column("delivered_at", INSTANT),
    )
    op.create_table(
        "report_warnings",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("raised_at", INSTANT, nullable=False),
        sa.Column("receivers", sa.JSON, nullable=False),
    )
    op.create_table(
        "schools",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region_id", sa.String(64), nullable=False),
    )
    op.create_index("schools_region", "schools", ["region_id"])


def downgrade() -> None:
    for name in ("schools", "report_warnings", "report_deliveries", "reports", "rollup_meal_eaters", "rollup_presence"):
        op.drop_table(name)
