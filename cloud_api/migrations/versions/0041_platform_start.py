"""Where a student starts signing in at a platform: an integration client's ``initiate_login_uri``.

OpenID Connect's third-party initiated login (Core §4): the student's page of digital resources
links to it with ``iss``, and the platform begins the sign-in with Mektep. Optional: a platform
registered before (or one that starts sign-in only itself) has none, and its row stays as it was.
``integration_clients`` is a reference table on Citus: the column reaches every node with it.

Revision ID: 0041
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the clients' sign-in start address."""
    with op.batch_alter_table("integration_clients") as batch:
        batch.add_column(sa.Column("initiate_login_uri", sa.String(2000)))


def downgrade() -> None:
    """Drop the clients' sign-in start address."""
    with op.batch_alter_table("integration_clients") as batch:
        batch.drop_column("initiate_login_uri")
