"""The exchange with the National Education Database (NEDB, ҰБДҚ): who takes part, the packet journal,
refused records and the figures due (``cloud_api.nedb``).

``nedb_schools`` names the schools that take part (their NEDB organisation code) and where their
roster pull stands; ``nedb_packets`` keeps every packet sent and received with its signature (the
body, which holds IINs, encrypted at rest); ``nedb_refusals`` the records refused on either side;
``nedb_figures`` the attendance and meal figures to send, a leased queue. All are a school's
tables (on Citus distributed by ``school_id``, ``cloud_api.db.distribution``).

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "nedb_schools",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("organisation", sa.String(32), nullable=False),
        sa.Column("enabled_at", INSTANT, nullable=False),
        sa.Column("classes", sa.JSON()),
        sa.Column("cursor", sa.String(64)),
        sa.Column("next_pull_at", INSTANT, nullable=False),
        sa.Column("last_pull_at", INSTANT),
        sa.Column("last_applied", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_refused", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("failing_since", INSTANT),
        sa.Column("last_error", sa.String(300)),
        sa.Column("last_try_at", INSTANT),
    )
    op.create_index("nedb_schools_next_pull", "nedb_schools", ["next_pull_at"])
    op.create_table(
        "nedb_packets",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("timestamp", sa.String(32)),
        sa.Column("signature", sa.String(256)),
        sa.Column("request_id", sa.Uuid()),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean()),
    )
    op.create_index("nedb_packets_school_at", "nedb_packets", ["school_id", "at"])
    op.create_index("nedb_packets_at", "nedb_packets", ["at"])
    op.create_table(
        "nedb_refusals",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("packet_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.String(96), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("message", sa.String(500), nullable=False, server_default=""),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("nedb_refusals_school_at", "nedb_refusals", ["school_id", "direction", "at"])
    op.create_table(
        "nedb_figures",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", INSTANT),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("failing_since", INSTANT),
        sa.Column("last_error", sa.String(300)),
        sa.Column("answered_at", INSTANT),
        sa.Column("records", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("refused", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.UniqueConstraint("school_id", "kind", "period", name="nedb_figures_period"),
    )
    op.create_index("nedb_figures_state", "nedb_figures", ["state", "due_at"])


def downgrade() -> None:
    """Drop them: the journal of the exchange goes with them (the roster it applied stays)."""
    for table in ("nedb_figures", "nedb_refusals", "nedb_packets", "nedb_schools"):
        op.drop_table(table)
