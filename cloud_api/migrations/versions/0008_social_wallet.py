"""The Social Wallet: an outbox of meal registrations and the Wallet's signed receipts.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wallet_outbox",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date, nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("claimed_until", INSTANT),
        sa.Column("last_attempt_at", INSTANT),
        sa.Column("last_error", sa.String(200)),
        sa.Column("reason", sa.String(64)),
        sa.Column("message", sa.String(500)),
        sa.Column("settled_at", INSTANT),
    )
    op.create_index("wallet_outbox_pending", "wallet_outbox", ["status", "created_at"])
    op.create_index("wallet_outbox_school_day", "wallet_outbox", ["school_id", "local_date"])
    op.create_table(
        "wallet_receipts",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.Uuid(), primary_key=True),
        sa.Column("receipt_id", sa.String(128), nullable=False),
        sa.Column("accepted_at", INSTANT, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("stored_at", INSTANT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wallet_receipts")
    op.drop_table("wallet_outbox")
