"""Ratings the school reads: students rate too, comments can be hidden, the office's month is one index.

A rating (§33-1.8) gets its own ``id`` (what the office's hide and show buttons and the audit
journal name; earlier rows get one here), the rater's role (``rater_role``: a guardian, or a
student rating their own meal, whose id is then both the child and the rater; earlier rows were
all a guardian's), and its moderation (``hidden_at``, ``hidden_by``: the school administrator hid
its comment; the stars still count). The office reads a month's ratings by day, period and stars
from one covering index, which replaces the index on the school and day alone.

Revision ID: 0023
Revises: 0022
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the id (given to every earlier rating), the rater's role, the moderation and the index."""
    with op.batch_alter_table("meal_ratings") as batch:
        batch.add_column(sa.Column("id", sa.Uuid()))
        batch.add_column(sa.Column("rater_role", sa.String(16), nullable=False, server_default="guardian"))
        batch.add_column(sa.Column("hidden_at", INSTANT))
        batch.add_column(sa.Column("hidden_by", sa.String(128)))
    ratings = sa.table(
        "meal_ratings",
        sa.column("school_id", sa.String()),
        sa.column("child_id", sa.Uuid()),
        sa.column("day", sa.Date()),
        sa.column("period", sa.String()),
        sa.column("guardian_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
    )
    conn = op.get_bind()
    key = (ratings.c.school_id, ratings.c.child_id, ratings.c.day, ratings.c.period, ratings.c.guardian_id)
    for row in conn.execute(sa.select(*key)).all():
        conn.execute(
            sa.update(ratings)
            .where(*(column == value for column, value in zip(key, row, strict=True)))
            .values(id=uuid.uuid4())
        )
    with op.batch_alter_table("meal_ratings") as batch:
        batch.alter_column("id", existing_type=sa.Uuid(), nullable=False)
    op.create_index("meal_ratings_school_id", "meal_ratings", ["school_id", "id"], unique=True)
    op.create_index("meal_ratings_school_day_stars", "meal_ratings", ["school_id", "day", "period", "stars"])
    op.drop_index("meal_ratings_school_day", table_name="meal_ratings")


def downgrade() -> None:
    """Drop the moderation, the role, the id and the index; the index on the school and day returns."""
    op.create_index("meal_ratings_school_day", "meal_ratings", ["school_id", "day"])
    op.drop_index("meal_ratings_school_day_stars", table_name="meal_ratings")
    op.drop_index("meal_ratings_school_id", table_name="meal_ratings")
    with op.batch_alter_table("meal_ratings") as batch:
        for column in ("hidden_by", "hidden_at", "rater_role", "id"):
            batch.drop_column(column)
