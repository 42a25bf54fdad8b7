"""The Alembic migrations build exactly the tables of ``cloud_api.db.schema``, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import alembic_config, upgrade
from cloud_api.db.partitions import include_name
from cloud_api.db.schema import metadata


def differences(database_url: str) -> list[object]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_autogenerate_finds_nothing_to_change_after_upgrade(database_url: str) -> None:
    upgrade(database_url)
    assert differences(database_url) == []


def test_upgrade_is_idempotent_and_downgrade_reverses_it(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # every API process migrates at start: the second run does nothing
    command.downgrade(alembic_config(database_url), "base")
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(database_url)
    assert differences(database_url) == []


def test_the_sqlite_directory_is_created(tmp_path: object) -> None:
    from pathlib import Path

    target = Path(str(tmp_path)) / "deep" / "er" / "cloud.db"
    upgrade(f"sqlite:///{target}")
    assert target.exists()
