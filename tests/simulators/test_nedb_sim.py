"""`mektep sim nedb` from the command line: it prints the settings the cloud needs and serves the roster."""

from __future__ import annotations

from typer.testing import CliRunner

from cloud_api.nedb.contract import RecordKind, load_public_key
from simulators.cli import app
from simulators.nedb import demo_roster

runner = CliRunner()


def test_the_command_prints_the_cloud_settings_and_the_roster_version() -> None:
    result = runner.invoke(
        app, ["nedb", "--students", "30", "--seconds", "0.2"], env={"MEKTEP_CLOUD_NEDB_KEY": "", "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    assert lines["MEKTEP_CLOUD_NEDB_URL"].startswith("http://127.0.0.1:")
    load_public_key(lines["MEKTEP_CLOUD_NEDB_PUBLIC_KEY"])  # a key the settings take
    assert len(lines["MEKTEP_CLOUD_NEDB_KEY"]) >= 16  # made for the run, since none was given
    assert "organisation 000000000001: roster version c" in result.output


def test_the_demo_roster_lists_its_classes_first_then_students_and_staff() -> None:
    records = demo_roster(40, seed=1)
    kinds = [r.kind for r in records]
    first_person = kinds.index(RecordKind.STUDENT)
    assert set(kinds[:first_person]) == {RecordKind.CLASS}
    assert RecordKind.STAFF in kinds
    classes = {r.class_name for r in records if r.kind is RecordKind.CLASS}
    assert {r.class_name for r in records if r.kind is RecordKind.STUDENT} <= classes
