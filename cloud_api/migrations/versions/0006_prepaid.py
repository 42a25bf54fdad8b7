"""Meals: the free-meal claims, a guardian's daily limit, the prepaid ledger; photos; canteen PINs.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "daily_limits",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("limit_tiyn", sa.BigInteger),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("daily_limits_school_version", "daily_limits", ["school_id", "version"])
    op.create_index("daily_limits_child", "daily_limits", ["school_id", "child_id", "id"])
    op.create_table(
        "balance_entries",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_tiyn", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Uuid()),
        sa.Column("note", sa.String(200)),
        sa.Column("version", sa.BigInteger),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.UniqueConstraint("school_id", "event_id", name="balance_entries_event"),
    )
    op.create_index("balance_entries_person", "balance_entries", ["school_id", "person_id", "id"])
    op.create_index("balance_entries_school_version", "balance_entries", ["school_id", "version"])
    op.create_table(
        "photos",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_table(
        "person_photos",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("person_photos_school_version", "person_photos", ["school_id", "version"])
    op.create_index("person_photos_person", "person_photos", ["school_id", "person_id", "id"])
    op.create_table(
        "canteen_pins",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("pin_hash", sa.String(256)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("canteen_pins_school_version", "canteen_pins", ["school_id", "version"])
    op.create_index("canteen_pins_person", "canteen_pins", ["school_id", "person_id", "id"])
    op.create_table(
        "free_meals",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("period", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("price_tiyn", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("free_meals", "canteen_pins", "person_photos", "photos", "balance_entries", "daily_limits"):
        op.drop_table(name)
