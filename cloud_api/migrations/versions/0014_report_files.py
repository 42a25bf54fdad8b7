"""A report version's files move to a table of their own, one row a file, as bytes.

Before, they were one JSON column of base64 text on the version's row: listing a school's versions
or the admin's page read every file of every version, and issuing a big school's month encoded
some 11 MB of base64 into JSON. The files move over unchanged (their digests are in the signed
manifests, which still verify).

Revision ID: 0014
Revises: 0013
"""

import base64

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KEY = ("subject", "month", "kind", "version")


def upgrade() -> None:
    files = op.create_table(
        "report_files",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    bind = op.get_bind()
    old = sa.table("reports", *(sa.column(c) for c in KEY), sa.column("files", sa.JSON))
    for key in bind.execute(sa.select(*(old.c[c] for c in KEY))).mappings().all():
        # A version at a time: each can be megabytes.
        where = [old.c[c] == key[c] for c in KEY]
        encoded = bind.execute(sa.select(old.c.files).where(*where)).scalar_one() or {}
        rows = [{**key, "name": name, "data": base64.b64decode(text)} for name, text in encoded.items()]
        if rows:
            bind.execute(sa.insert(files), rows)
    with op.batch_alter_table("reports") as table:
        table.drop_column("files")


def downgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.add_column(sa.Column("files", sa.JSON, nullable=True))
    bind = op.get_bind()
    files = sa.table("report_files", *(sa.column(c) for c in KEY), sa.column("name"), sa.column("data"))
    reports = sa.table("reports", *(sa.column(c) for c in KEY), sa.column("files", sa.JSON))
    collected: dict[tuple, dict[str, str]] = {}
    for row in bind.execute(sa.select(files)).mappings():
        collected.setdefault(tuple(row[c] for c in KEY), {})[row["name"]] = base64.b64encode(row["data"]).decode()
    for key, encoded in collected.items():
        bind.execute(
            sa.update(reports).where(*(reports.c[c] == v for c, v in zip(KEY, key, strict=True))).values(files=encoded)
        )
    with op.batch_alter_table("reports") as table:
        table.alter_column("files", existing_type=sa.JSON, nullable=False)
    op.drop_table("report_files")
