"""The roster: people, guardianships, cards, consents, roster versions and the audit journal.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "roster_versions",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("iin", sa.String(12), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("middle_name", sa.String(100)),
        sa.Column("language", sa.String(2)),
        sa.Column("class_name", sa.String(8)),
        sa.Column("grade", sa.Integer),
        sa.Column("meal_category", sa.String(16)),
        sa.Column("discount_percent", sa.Integer),
        sa.Column("phone", sa.String(16)),
        sa.Column("email", sa.String(254)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.UniqueConstraint("school_id", "iin", name="people_school_iin"),
    )
    op.create_index("people_school_version", "people", ["school_id", "version"])
    op.create_table(
        "guardianships",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("guardian_id", sa.Uuid(), primary_key=True),
        sa.Column("child_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.UniqueConstraint("school_id", "credential_hash", name="credentials_school_hash"),
    )
    op.create_index("credentials_school_version", "credentials", ["school_id", "version"])
    op.create_table(
        "consents",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("guardian_id", sa.Uuid(), nullable=False),
        sa.Column("given", sa.Boolean, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("consents_school_child", "consents", ["school_id", "child_id", "id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("audit_log_school_at", "audit_log", ["school_id", "at"])
    op.create_index("audit_log_entity", "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("consents")
    op.drop_table("credentials")
    op.drop_table("guardianships")
    op.drop_table("people")
    op.drop_table("roster_versions")
