"""Run the Alembic migrations from code (the CLI, the app's start-up and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cloud_api.core.data_keys import DataKeys

__all__ = ["MIGRATIONS", "alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and ``database_url``.

    Built in code rather than read from ``alembic.ini`` so that an installed package (no source
    tree, any working directory) migrates the same way.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': a password with '%' in its URL must survive it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, keys: DataKeys | None = None, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to the newest schema (``alembic upgrade head``).

    ``keys`` (the settings' data keys; None: the development key) encrypt the personal data that
    migration 0028 finds in clear, and are the keys of the migration's engine.
    """
    config = alembic_config(database_url)
    config.attributes["data_keys"] = keys
    command.upgrade(config, revision)
