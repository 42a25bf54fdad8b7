"""Accounts to the standard of Order No. 456 §5: second factors, one-time codes, sessions that know
what they are, single sign-on, and accounts that can be disabled and deleted.

- ``accounts`` gets a display name, an e-mail for reset codes when the login is a phone number,
  ``second_factor_wanted`` (a guardian's own choice, or a guardian's for a child under 16) and
  ``deleted_at``: a deleted account keeps its row, emptied of personal data, so that the audit
  trail still names it.
- ``sessions`` gets its ``stage`` (a sign-in may be half done: the password right, the second factor
  due), its ``kind`` (a staff member's, ended after 12 h or 30 minutes idle; a family's device, 30
  days with its token rotated), when it was last seen, how it was opened, from where and with what
  browser (each user lists their sessions and ends them), and a pending WebAuthn challenge.
- New tables, each an account's (distributed by the account's id on Citus): ``totp_secrets``,
  ``recovery_codes``, ``passkeys``, ``one_time_codes`` (activation and reset). ``external_identities``
  maps an outside provider's user to an account, keyed by the provider's subject.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

INSTANT = sa.DateTime(timezone=True)

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the tables."""
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("display_name", sa.String(200)))
        batch.add_column(sa.Column("email", sa.String(254)))
        batch.add_column(sa.Column("second_factor_wanted", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("deleted_at", INSTANT))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("stage", sa.String(16), nullable=False, server_default="full"))
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="staff"))
        batch.add_column(sa.Column("last_seen_at", INSTANT))
        batch.add_column(sa.Column("method", sa.String(32)))
        batch.add_column(sa.Column("ip", sa.String(64)))
        batch.add_column(sa.Column("user_agent", sa.String(200)))
        batch.add_column(sa.Column("challenge", sa.String(128)))
    op.create_table(
        "totp_secrets",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("confirmed_at", INSTANT),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("pending_secret", sa.String(64)),
        sa.Column("pending_at", INSTANT),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("used_at", INSTANT),
    )
    op.create_table(
        "passkeys",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("credential_id", sa.String(1400), primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("last_used_at", INSTANT),
    )
    op.create_table(
        "one_time_codes",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(16), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.Column("used_at", INSTANT),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "external_identities",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", INSTANT, nullable=False),
    )
    op.create_index("external_identities_account", "external_identities", ["account_id"])


def downgrade() -> None:
    """Drop the tables and the columns."""
    for table in ("external_identities", "one_time_codes", "passkeys", "recovery_codes", "totp_secrets"):
        op.drop_table(table)
    with op.batch_alter_table("sessions") as batch:
        for column in ("challenge", "user_agent", "ip", "method", "last_seen_at", "kind", "stage"):
            batch.drop_column(column)
    with op.batch_alter_table("accounts") as batch:
        for column in ("deleted_at", "second_factor_wanted", "email", "display_name"):
            batch.drop_column(column)
