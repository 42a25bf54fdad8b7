"""`mektep cloud backup` and `restore`: a restored copy serves the school as the original did; a
damaged file or a copy that differs is said so, with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cloud_api.app import create_app
from cloud_api.backup import BackupError, pg_programs
from cloud_api.db.distribution import is_citus
from cloud_api.settings import CloudSettings
from mektep.citus_cluster import CitusCluster
from mektep.cli import app as cli
from shared.contract import INGEST_PATH
from tests.cloud_api.helpers import ADMIN, batch_body, event, signed
from tests.cloud_api.school import ACCOUNTS, CHILD, PASSWORD, TEEN, World
from tests.conftest import PG_ADMIN

ON_CITUS = {"test_a_restored_backup_serves_the_school_as_the_original_did"}
runner = CliRunner()


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind: a SQLite file, a PostgreSQL database, a Citus cluster's."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"mektep_restored_{secrets.token_hex(4)}"
    if request.node.callspec.params["database_url"] == "citus":
        cluster: CitusCluster = request.getfixturevalue("citus")
        nodes = [cluster.coordinator, *cluster.workers]
        # A second database on the session's cluster: on every node, with the extension, and
        # the coordinator told of its workers (Citus does not carry CREATE DATABASE to them).
        for node in nodes:
            with psycopg.connect(node.dsn(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            with psycopg.connect(node.dsn(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        with psycopg.connect(cluster.coordinator.dsn(name), autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (cluster.coordinator.port,))
            for worker in cluster.workers:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
        admins = [node.dsn() for node in nodes]
        url = make_url(cluster.url).set(database=name)
    else:
        admins = [PG_ADMIN]
        url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        for admin in admins:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reads(client: TestClient, head: dict[str, str], mother: dict[str, str], child: str) -> dict[str, Any]:
    """What the school's head and a mother read: the people list, a day's events, her children, a balance."""
    got = {
        "people": client.get("/v1/schools/s1/people", headers=head),
        "day": client.get("/v1/schools/s1/events", headers=head, params={"date": "2026-11-20"}),
        "children": client.get("/v1/me/children", headers=mother),
        "balance": client.get(f"/v1/me/children/{child}/balance", headers=mother),
    }
    for name, response in got.items():
        assert response.status_code == 200, (name, response.text)
    return {name: response.json() for name, response in got.items()}


def test_a_restored_backup_serves_the_school_as_the_original_did(
    world: World, database_url: str, fresh_url: str, tmp_path: Path
) -> None:
    child = world.ids[CHILD]
    day = [
        event(1, person_id=str(child), at="2026-11-20T07:55:00+05:00"),
        event(2, person_id=str(child), kind="exit", at="2026-11-20T13:10:00+05:00"),
        event(3, person_id=str(world.ids[TEEN]), at="2026-11-20T08:02:00+05:00"),
    ]
    body = batch_body(day)
    assert world.client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200
    head = world.token(ACCOUNTS["head1"][0])
    mother = world.token(ACCOUNTS["mother"][0])
    before = _reads(world.client, head, mother, str(child))
    assert len(before["day"]) == 3 and len(before["children"]) == 2

    dump = tmp_path / "cloud.backup"
    made = runner.invoke(cli, ["cloud", "backup", str(dump), "--database-url", database_url])
    assert made.exit_code == 0, made.output
    assert "verified" in made.output
    lines = {line.split()[0]: line.split() for line in made.output.splitlines() if line.strip()}
    assert lines["events"][1:] == ["3", "3", "same"]  # rows in the source, in the restored scratch copy
    assert lines["people"][1:3] == ["8", "8"]
    with world.app.state.engine.connect() as conn:
        on_citus = is_citus(conn)
    # On Citus a restore point is named on every node first, and the dump's limits are said.
    assert ("restore point mektep-" in made.output) == on_citus
    assert ("base backup with its WAL archive" in " ".join(made.output.split())) == on_citus

    restored = runner.invoke(cli, ["cloud", "restore", str(dump), "--database-url", fresh_url])
    assert restored.exit_code == 0, restored.output
    assert "DIFFERS" not in restored.output
    if on_citus:  # the dump's plain tables, distributed again on the restored cluster
        copy_engine = create_engine(fresh_url)
        with copy_engine.connect() as conn:
            placed = conn.execute(text("SELECT logicalrelid::regclass::text FROM pg_dist_partition")).scalars()
            assert {"events", "people", "sessions", "schools"} <= set(placed)
        copy_engine.dispose()

    settings = CloudSettings(database_url=fresh_url, admin_token=ADMIN, push_workers=0)
    with TestClient(create_app(settings)) as copy:
        # The sessions were backed up too: the same people, still signed in, read the same.
        assert _reads(copy, head, mother, str(child)) == before
        again = copy.post("/v1/auth/sign-in", json={"login": ACCOUNTS["mother"][0], "password": PASSWORD})
        assert again.status_code == 200, again.text


def test_a_damaged_or_truncated_backup_is_refused_with_its_reason(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    good = tmp_path / "cloud.backup"
    if url.startswith("sqlite"):
        assert runner.invoke(cli, ["cloud", "backup", str(good), "--database-url", url]).exit_code == 0
        target = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        # The dump itself, as `cloud backup` makes it (its verification is the other test's).
        with engine.connect() as conn:
            dump, _ = pg_programs(int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000)
        libpq = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run([str(dump), "--format=custom", f"--file={good}", libpq], check=True)
        with engine.begin() as conn:  # restore needs an empty database: the source, emptied
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        target = url

    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(b"\x00 not a backup \xff" * 2000)
    for damaged in (truncated, garbage):
        (damaged.parent / f"{damaged.name}.sums.json").write_text('{"tables": {"events": [0, "0"]}}')
        result = runner.invoke(cli, ["cloud", "restore", str(damaged), "--database-url", target])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # an answer, not a traceback
        assert result.output.startswith(f"error: {damaged}: "), result.output
        assert "Traceback" not in result.output


def test_a_restored_copy_that_differs_from_its_sums_exits_non_zero(tmp_path: Path) -> None:
    # The comparison is the same code on every engine; SQLite shows it.
    source = tmp_path / "cloud.db"
    assert runner.invoke(cli, ["cloud", "migrate", "--database-url", f"sqlite:///{source}"]).exit_code == 0
    dump = tmp_path / "cloud.backup"
    assert runner.invoke(cli, ["cloud", "backup", str(dump), "--database-url", f"sqlite:///{source}"]).exit_code == 0
    sums = tmp_path / "cloud.backup.sums.json"
    manifest = json.loads(sums.read_text())
    manifest["tables"]["people"] = [1, "0"]  # as if a row had been lost on the way
    sums.write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["cloud", "restore", str(dump), "--database-url", f"sqlite:///{tmp_path / 'r.db'}"])
    assert result.exit_code == 1
    people = next(line for line in result.output.splitlines() if line.startswith("people"))
    assert people.split() == ["people", "1", "0", "DIFFERS"]
    assert "the restored copy differs from backup" in result.output


def test_missing_postgresql_programs_are_named_with_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"PostgreSQL 99 .* apt-get install postgresql-client-99"):
        pg_programs(99)
    with pytest.raises(BackupError, match="give --pg-bin"):
        pg_programs(15, tmp_path)
