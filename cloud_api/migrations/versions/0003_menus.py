"""The canteen: meal rules, dishes, set meals and allergen bans, each kept as history.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def _history(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        *columns,
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index(f"{name}_school_version", name, ["school_id", "version"])


def upgrade() -> None:
    _history("meal_rules", sa.Column("rules", sa.JSON, nullable=False))
    _history(
        "dish_versions",
        sa.Column("dish_id", sa.Uuid(), nullable=False),
        sa.Column("names", sa.JSON, nullable=False),
        sa.Column("price_tiyn", sa.BigInteger, nullable=False),
        sa.Column("allergens", sa.JSON, nullable=False),
        sa.Column("photo_url", sa.String(500)),
    )
    op.create_index("dish_versions_dish", "dish_versions", ["school_id", "dish_id", "id"])
    _history(
        "set_meals",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("dish_ids", sa.JSON, nullable=False),
        sa.Column("price_tiyn", sa.BigInteger, nullable=False),
    )
    op.create_index("set_meals_day", "set_meals", ["school_id", "day", "period", "id"])
    _history(
        "allergen_bans",
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("allergens", sa.JSON, nullable=False),
    )
    op.create_index("allergen_bans_child", "allergen_bans", ["school_id", "child_id", "id"])


def downgrade() -> None:
    for name in ("allergen_bans", "set_meals", "dish_versions", "meal_rules"):
        op.drop_table(name)
