"""Integrations: the outside systems registered to use a school's data (Order No. 456 §33-1.2, §33-1.13).

``integration_clients`` holds each e-textbook platform, e-diary or access-control system the
deployment or a region registered: its name, its secret's hash (and the previous one during a
rotation), where it may sign students in (redirect URIs, claims), what it may read (scopes), and
which region and schools it serves. A reference table on Citus.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the registry of outside systems."""
    op.create_table(
        "integration_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("previous_secret_hash", sa.String(64)),
        sa.Column("previous_secret_until", INSTANT),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("region_id", sa.String(64)),
        sa.Column("school_ids", sa.JSON(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("revoked_at", INSTANT),
        sa.Column("revoked_by", sa.String(128)),
    )
    op.create_index("integration_clients_region", "integration_clients", ["region_id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_table("integration_clients")
