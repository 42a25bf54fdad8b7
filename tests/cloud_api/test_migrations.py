"""The Alembic migrations build exactly the tables of ``cloud_api.db.schema``, on both backends."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import alembic_config, upgrade
from cloud_api.db.partitions import include_name
from cloud_api.db.schema import metadata
from cloud_api.reports.manifest import build_manifest, new_private_key, sign_manifest, verify_files
from cloud_api.reports.store import VersionKey, read_files
from tests.cloud_api.test_report_manifest import FILES


def differences(database_url: str) -> list[object]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


# The cluster runs the schema's own cases; the report files' data migration is the same SQL as on
# PostgreSQL, half a minute more there.
ON_CITUS = (
    "test_autogenerate_finds_nothing_to_change_after_upgrade",
    "test_upgrade_is_idempotent_and_downgrade_reverses_it",
)


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


def test_issued_report_files_move_to_their_table_unchanged_and_still_verify(database_url: str) -> None:
    key = new_private_key()
    manifest = build_manifest(FILES, report_id="s1/2026-10/meals", version=1)
    signature = sign_manifest(key, manifest)
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "0013")  # before 0014: base64 in a JSON column
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO reports (subject, month, kind, version, created_at, content_sha256, changes, "
                    "missing_gateways, manifest, signature, files) VALUES ('s1', '2026-10', 'meals', 1, :at, 'x', "
                    "'[]', '[]', :manifest, :signature, :files)"
                ),
                {
                    "at": datetime.now(UTC),
                    "manifest": manifest,
                    "signature": signature,
                    "files": json.dumps({n: base64.b64encode(d).decode() for n, d in FILES.items()}),
                },
            )
        upgrade(database_url)
        with engine.connect() as conn:
            moved = read_files(conn, VersionKey("s1", "2026-10", "meals", 1))
    finally:
        engine.dispose()
    assert moved == FILES
    verify_files(key.public_key(), manifest, signature, moved)  # what a receiver checks still holds
