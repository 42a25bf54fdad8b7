"""Scoped API clients (Order No. 456 §33-1.2, §16): their access tokens, their calls, their rate.

``integration_tokens`` keeps the SHA-256 of each opaque access token of the OAuth 2.0 client
credentials grant (an hour long), distributed by that hash on Citus like the sessions;
``integration_calls`` journals every API call of a client, and ``integration_rate`` counts its
calls a minute so that every API process shares one limit; both by the client's id.

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tokens, the calls' journal and the per-minute counters."""
    op.create_table(
        "integration_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("issued_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
    )
    op.create_index("integration_tokens_client", "integration_tokens", ["client_id"])
    op.create_table(
        "integration_calls",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("school_id", sa.String(64)),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("rows", sa.Integer(), nullable=False),
    )
    op.create_index("integration_calls_client_at", "integration_calls", ["client_id", "at"])
    op.create_table(
        "integration_rate",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("minute", INSTANT, primary_key=True),
        sa.Column("calls", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("integration_rate")
    op.drop_table("integration_calls")
    op.drop_table("integration_tokens")
