"""Signed webhooks: an integration client's subscriptions to a school's events, and their deliveries.

``webhook_subscriptions`` holds each subscription (client, school, receiver URL, event kinds, the
Standard Webhooks secret encrypted at rest and the previous one during a rotation, active or paused
and why, the run of failures); ``webhook_deliveries`` every message to a subscription, written in
the transaction that stored its event, with the body as signed. On Citus both go by ``school_id``
with the school's tables.

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create both tables and their indexes."""
    op.create_table(
        "webhook_subscriptions",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(512), nullable=False),
        sa.Column("previous_secret", sa.String(512)),
        sa.Column("previous_secret_until", INSTANT),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", INSTANT, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", INSTANT),
        sa.Column("last_error", sa.String(200)),
        sa.Column("last_attempt_at", INSTANT),
        sa.Column("last_delivered_at", INSTANT),
        sa.Column("paused_reason", sa.String(200)),
        sa.Column("paused_at", INSTANT),
        sa.Column("paused_by", sa.String(128)),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("removed_at", INSTANT),
    )
    op.create_index("webhook_subscriptions_client", "webhook_subscriptions", ["client_id"])
    op.create_index("webhook_subscriptions_due", "webhook_subscriptions", ["state", "due_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("event_id", sa.Uuid()),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("delivered_at", INSTANT),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(200)),
    )
    op.create_index(
        "webhook_deliveries_subscription", "webhook_deliveries", ["school_id", "subscription_id", "state", "id"]
    )
    op.create_index("webhook_deliveries_state", "webhook_deliveries", ["state", "created_at"])


def downgrade() -> None:
    """Drop them: the subscriptions and every delivery go."""
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
