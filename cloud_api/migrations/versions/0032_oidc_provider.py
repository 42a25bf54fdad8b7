"""Single sign-on for students into outside platforms: Mektep as an OpenID Connect provider (§33-1.13).

``oidc_keys`` holds the keys that sign ID tokens (the private key encrypted at rest, a reference
table on Citus); ``oidc_codes`` the authorization codes (SHA-256, single use, minutes long);
``oidc_tokens`` the access tokens for userinfo (SHA-256); ``oidc_grants`` what each student agreed
each platform may learn, and its withdrawal (by whom, when), kept as history.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the provider's tables."""
    op.create_table(
        "oidc_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("retired_at", INSTANT),
    )
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("nonce", sa.String(255)),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(8), nullable=False),
        sa.Column("auth_time", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.Column("used_at", INSTANT),
    )
    op.create_index("oidc_codes_expires", "oidc_codes", ["expires_at"])
    op.create_table(
        "oidc_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
    )
    op.create_index("oidc_tokens_expires", "oidc_tokens", ["expires_at"])
    op.create_table(
        "oidc_grants",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("offered", sa.JSON(), nullable=False),
        sa.Column("granted_at", INSTANT, nullable=False),
        sa.Column("granted_by", sa.String(128), nullable=False),
        sa.Column("withdrawn_at", INSTANT),
        sa.Column("withdrawn_by", sa.String(128)),
        sa.Column("guardian_block", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("block_lifted_at", INSTANT),
        sa.Column("block_lifted_by", sa.String(128)),
    )
    op.create_index("oidc_grants_account_client", "oidc_grants", ["account_id", "client_id"])


def downgrade() -> None:
    """Drop them."""
    for table in ("oidc_grants", "oidc_tokens", "oidc_codes", "oidc_keys"):
        op.drop_table(table)
