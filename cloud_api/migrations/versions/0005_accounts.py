"""Accounts, role grants (history), sign-in attempts and sessions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("login", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("school_id", sa.String(64)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.UniqueConstraint("login", name="accounts_login"),
    )
    op.create_index("accounts_school", "accounts", ["school_id"])
    op.create_table(
        "role_grants",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64)),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
    )
    op.create_index("role_grants_account", "role_grants", ["account_id", "id"])
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(254), nullable=False),
        sa.Column("account_id", sa.Uuid()),
        sa.Column("school_id", sa.String(64)),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("ip", sa.String(64)),
    )
    op.create_index("sign_in_attempts_login_at", "sign_in_attempts", ["login", "at"])
    op.create_index("sign_in_attempts_school_at", "sign_in_attempts", ["school_id", "at"])
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.Column("revoked_at", INSTANT),
    )
    op.create_index("sessions_account", "sessions", ["account_id"])


def downgrade() -> None:
    for name in ("sessions", "sign_in_attempts", "role_grants", "accounts"):
        op.drop_table(name)
