"""Alerts: what the cloud's own rules raised, and the staff's devices that hear of them.

``alerts`` keeps every alert of a rule (``cloud_api.alerts.rules``) about a subject (a gateway, one
of its readers, a delivery queue, the database): pending while its condition has not yet held for
the rule's window, open, then resolved; who acknowledged it and when; the notice still to send. A
school's alerts are its own (on Citus distributed by ``school_id`` with the school's tables); the
deployment's have the school ``"*"``. ``staff_push_subscriptions`` are the Web Push devices of
office accounts, by account (a region's staff have no school). The two roles that hear of a
school's or a region's gateways (``school_it``, ``region_it``) are rows of ``role_grants``: no column.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)
ACTIVE = "state != 'resolved'"


def upgrade() -> None:
    """Create both tables and the alerts' indexes."""
    op.create_table(
        "alerts",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("gateway_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", INSTANT, nullable=False),
        sa.Column("opened_at", INSTANT),
        sa.Column("clear_since", INSTANT),
        sa.Column("resolved_at", INSTANT),
        sa.Column("acknowledged_at", INSTANT),
        sa.Column("acknowledged_by", sa.Uuid()),
        sa.Column("value", sa.Float()),
        sa.Column("tell", sa.String(16)),
    )
    op.create_index(
        "alerts_one_active",
        "alerts",
        ["school_id", "rule", "subject"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index("alerts_state", "alerts", ["state"])
    op.create_index("alerts_school_opened", "alerts", ["school_id", "opened_at"])
    op.create_index("alerts_tell", "alerts", ["tell"])
    op.create_table(
        "staff_push_subscriptions",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("endpoint", sa.String(1000), primary_key=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
    )


def downgrade() -> None:
    """Drop them: the alerts' history goes (the gateways' own figures stay)."""
    op.drop_table("staff_push_subscriptions")
    op.drop_table("alerts")
