"""Every CLI command is documented with an example, and `config check` names file, line and field."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from mektep.cli import app

runner = CliRunner()


def _commands(group: typer.Typer, prefix: str = "") -> list[tuple[str, object]]:
    found = [(f"{prefix}{c.name or c.callback.__name__}", c.callback) for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        found += _commands(sub.typer_instance, f"{prefix}{sub.name} ")  # type: ignore[arg-type]
        if sub.typer_instance.registered_callback:  # type: ignore[union-attr]
            found.append((f"{prefix}{sub.name}", sub.typer_instance.registered_callback.callback))  # type: ignore[union-attr]
    return found


def test_every_command_has_help_with_an_example() -> None:
    commands = _commands(app)
    assert {"cloud serve", "gateway run", "config check", "sim serial-reader", "demo"} <= {n for n, _ in commands}
    for name, callback in commands:
        assert callback.__doc__ and "Example:" in callback.__doc__, name  # type: ignore[attr-defined]


def test_config_check_names_file_line_and_field(tmp_path: Path) -> None:
    good = Path("firmware_configs/sites/demo-school.yaml")
    assert runner.invoke(app, ["config", "check", str(good)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("direction: exit", "direction: sideways"))
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 1
    # Rich wraps long lines to the terminal width: compare without white space
    assert f"{bad}:35:readers[1].direction" in "".join(result.output.split())
