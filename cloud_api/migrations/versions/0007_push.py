"""Parents: the deployment's keys, push subscriptions and settings, the push queue, meal ratings.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployment_keys",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("public", sa.String(200), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("guardian_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.UniqueConstraint("endpoint", name="push_subscriptions_endpoint"),
    )
    op.create_index("push_subscriptions_guardian", "push_subscriptions", ["school_id", "guardian_id"])
    op.create_table(
        "notification_settings",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("language", sa.String(2)),
        sa.Column("entries", sa.Boolean, nullable=False),
        sa.Column("meals", sa.Boolean, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
    )
    op.create_table(
        "push_queue",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", INSTANT, nullable=False),
        sa.Column("done_at", INSTANT),
        sa.Column("detail", sa.String(200)),
        sa.UniqueConstraint("school_id", "event_id", name="push_queue_event"),
    )
    op.create_index("push_queue_due", "push_queue", ["state", "due_at"])
    op.create_index("push_queue_person", "push_queue", ["school_id", "person_id", "occurred_at"])
    op.create_table(
        "meal_ratings",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("child_id", sa.Uuid(), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("period", sa.String(64), primary_key=True),
        sa.Column("guardian_id", sa.Uuid(), primary_key=True),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("comment", sa.String(500)),
        sa.Column("at", INSTANT, nullable=False),
    )
    op.create_index("meal_ratings_school_day", "meal_ratings", ["school_id", "day"])


def downgrade() -> None:
    for name in ("meal_ratings", "push_queue", "notification_settings", "push_subscriptions", "deployment_keys"):
        op.drop_table(name)
