"""The gateways' health: each gateway's last heartbeat, and a day of them.

A gateway sends a signed heartbeat every minute (``POST /v1/gateways/{gateway_id}/heartbeat``):
``gateway_health`` keeps the last one of each gateway (one row a gateway, replaced each time: last
contact, host figures, backlog, clock offset, version, the parts' states), ``gateway_heartbeats`` the
ones of the last day (the figures that move and the parts that are not ok), pruned by age. Its key
(school, gateway, signature) is the heartbeats' replay guard. Both are a school's tables: on Citus
they are distributed by ``school_id`` when ``migrate`` ends (``cloud_api.db.distribution``).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the two tables and the history's indexes."""
    op.create_table(
        "gateway_health",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("gateway_id", sa.String(64), primary_key=True),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.Column("sent_at", INSTANT, nullable=False),
        sa.Column("clock_offset_s", sa.Float(), nullable=False),
        sa.Column("reported_clock_offset_s", sa.Float()),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("uptime_s", sa.Float(), nullable=False),
        sa.Column("cpu_ratio", sa.Float(), nullable=False),
        sa.Column("memory_used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("memory_total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_free_ratio", sa.Float(), nullable=False),
        sa.Column("net_sent_bytes", sa.BigInteger(), nullable=False),
        sa.Column("net_received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("outbox_pending", sa.Integer(), nullable=False),
        sa.Column("outbox_rejected", sa.Integer(), nullable=False),
        sa.Column("oldest_pending_age_s", sa.Float()),
    )
    op.create_table(
        "gateway_heartbeats",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("gateway_id", sa.String(64), primary_key=True),
        sa.Column("signature", sa.String(128), primary_key=True),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.Column("clock_offset_s", sa.Float(), nullable=False),
        sa.Column("cpu_ratio", sa.Float(), nullable=False),
        sa.Column("memory_used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_free_ratio", sa.Float(), nullable=False),
        sa.Column("net_sent_bytes", sa.BigInteger(), nullable=False),
        sa.Column("net_received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("outbox_pending", sa.Integer(), nullable=False),
        sa.Column("oldest_pending_age_s", sa.Float()),
        sa.Column("not_ok", sa.JSON()),
    )
    op.create_index(
        "gateway_heartbeats_gateway_received_at", "gateway_heartbeats", ["school_id", "gateway_id", "received_at"]
    )
    op.create_index("gateway_heartbeats_received_at", "gateway_heartbeats", ["received_at"])


def downgrade() -> None:
    """Drop them (the heartbeats are figures of the moment: nothing of a school's record is lost)."""
    op.drop_table("gateway_heartbeats")
    op.drop_table("gateway_health")
