"""The Social Wallet's dynamic QR: consent per identification method, and each child's voucher.

``consents.method`` says which way of identifying the child a row consents to: ``card`` (every row
before this revision: the consent to tracking by card) or ``qr`` (the Social Wallet's dynamic QR
code). The newest row per child and method is in force. ``wallet_vouchers`` holds each child's
voucher id as the Wallet issued it, append-only like the other per-child histories; on Citus it
goes by ``school_id`` with the school's tables.

Revision ID: 0040
Revises: 0039
"""

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the consent's method (``card`` for every row so far) and the vouchers' table."""
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("method", sa.String(8), nullable=False, server_default="card"))
    op.create_table(
        "wallet_vouchers",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("voucher_id", sa.Uuid()),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Keyed (school_id, id) on PostgreSQL, as 0017 keyed the other histories: Citus shards by school.
        op.execute('ALTER TABLE "wallet_vouchers" DROP CONSTRAINT "wallet_vouchers_pkey"')
        op.execute('ALTER TABLE "wallet_vouchers" ADD CONSTRAINT "wallet_vouchers_pkey" PRIMARY KEY (school_id, id)')
    op.create_index("wallet_vouchers_school_version", "wallet_vouchers", ["school_id", "version"])
    op.create_index("wallet_vouchers_child", "wallet_vouchers", ["school_id", "child_id", "id"])


def downgrade() -> None:
    """Drop the vouchers and the method (the QR consents' rows go with the column's meaning)."""
    op.drop_index("wallet_vouchers_child", table_name="wallet_vouchers")
    op.drop_index("wallet_vouchers_school_version", table_name="wallet_vouchers")
    op.drop_table("wallet_vouchers")
    op.execute("DELETE FROM consents WHERE method <> 'card'")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("method")
