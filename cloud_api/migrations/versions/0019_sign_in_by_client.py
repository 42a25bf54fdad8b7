"""Sign-in attempts are counted by client address as well as by login.

The lock used to fall on a login after five failures from anywhere, so five requests from anybody
locked any family out for a quarter of an hour. Now the pair (login, address) is locked, and an
address that fails too often over every login is slowed down (spraying one password over many
logins). ``client`` is the address the attempts are counted by (an IPv6 client's /64), beside the
raw ``ip`` an administrator reads; earlier attempts keep no client and count for nobody.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``sign_in_attempts.client`` and its index by time."""
    with op.batch_alter_table("sign_in_attempts") as batch:
        batch.add_column(sa.Column("client", sa.String(64)))
    op.create_index("sign_in_attempts_client_at", "sign_in_attempts", ["client", "at"])


def downgrade() -> None:
    """Drop the column and its index."""
    op.drop_index("sign_in_attempts_client_at", table_name="sign_in_attempts")
    with op.batch_alter_table("sign_in_attempts") as batch:
        batch.drop_column("client")
