"""The gateway's database is its own (0600 in a 0700 directory), and a production site reaches the cloud over https."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.site.config import ConfigError, parse_site
from gateway.taps.outbox import open_database
from mektep.cli import app

SITE = """\
school: {id: s1, name: "№1"}
gateway:
  id: gw1
  key: {env: K}
  credential_key: {env: C}
  data_dir: DATA
  environment: ENVIRONMENT
cloud:
  url: URL
"""


def site(tmp_path: Path, url: str, environment: str = "production") -> str:
    data = tmp_path / "data"
    return SITE.replace("DATA", str(data)).replace("ENVIRONMENT", environment).replace("URL", url)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_made_for_the_gateway_alone(tmp_path: Path) -> None:
    database = tmp_path / "var" / "gateway" / "gateway.db"
    db = open_database(database)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    assert mode(database.parent) == 0o700 and mode(database) == 0o600
    assert mode(Path(f"{database}-wal")) == 0o600  # SQLite gives its journal the database's mode
    db.close()


@pytest.mark.parametrize("shared", ["file", "directory"])
def test_a_database_others_may_read_is_refused_with_the_chmod_that_fixes_it(tmp_path: Path, shared: str) -> None:
    database = tmp_path / "data" / "gateway.db"
    open_database(database).close()
    target, fix = (database, "chmod 600") if shared == "file" else (database.parent, "chmod 700")
    os.chmod(target, 0o644 if shared == "file" else 0o755)
    with pytest.raises(ConfigError) as refused:
        open_database(database)
    [problem] = refused.value.problems
    assert problem.file == str(target) and "other users may read it (mode 0" in problem.message
    assert f"{fix} {target}" in problem.message


def test_the_gateway_command_names_the_shared_file_and_exits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(site(tmp_path, "http://127.0.0.1:9", environment="development"))
    database = tmp_path / "data" / "gateway.db"
    open_database(database).close()
    os.chmod(database, 0o640)
    monkeypatch.setenv("K", "k" * 32)
    monkeypatch.setenv("C", "c" * 32)
    result = CliRunner().invoke(app, ["gateway", "pair", "--config", str(path)])
    assert result.exit_code == 1
    assert f"chmod600{database}" in "".join(result.output.split())  # Rich wraps long lines anywhere


def test_production_refuses_a_plain_http_cloud_naming_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_site(site(tmp_path, "http://cloud.example.kz"), "school.yaml")
    [problem] = refused.value.problems
    assert (problem.file, problem.line, problem.field) == ("school.yaml", 9, "cloud.url")
    assert "https" in problem.message
    assert parse_site(site(tmp_path, "https://cloud.example.kz")).cloud.url.scheme == "https"
    # In development a cloud on this machine may be plain http.
    assert parse_site(site(tmp_path, "http://127.0.0.1:8000", environment="development")).gateway.ui_host == "127.0.0.1"
