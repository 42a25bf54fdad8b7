"""Gateways, events and the packet journal.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out here rather than imported from the app: a migration is frozen history.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("gateway_id", sa.String(64), primary_key=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64)),
        sa.Column("credential_kind", sa.String(32)),
        sa.Column("credential_hash", sa.String(64)),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer, nullable=False),
        sa.Column("local_date", sa.Date, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("judged_without_roster", sa.Boolean, nullable=False),
        sa.Column("meal", sa.JSON),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.Column("batch_id", sa.BigInteger, nullable=False),
    )
    op.create_index("events_school_day", "events", ["school_id", "local_date"])
    op.create_index("events_gateway_seq", "events", ["gateway_id", "seq"])
    op.create_table(
        "packets",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("timestamp", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.UniqueConstraint("gateway_id", "signature", name="packets_gateway_signature"),
    )
    op.create_index("packets_received_at", "packets", ["received_at"])


def downgrade() -> None:
    op.drop_table("packets")
    op.drop_table("events")
    op.drop_table("gateways")
