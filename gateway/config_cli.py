"""``mektep config``: check site files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from gateway.config import ConfigError, load_site

__all__ = ["app", "check"]

app = typer.Typer(help="Check and render site configuration.", no_args_is_help=True, add_completion=False)


@app.command()
def check(file: Path = typer.Argument(..., help="A site file, e.g. firmware_configs/sites/demo-school.yaml")) -> None:
    """Validate a site file; every error names the file, line and field.

    Example:
        mektep config check firmware_configs/sites/demo-school.yaml
    """
    console = Console(stderr=True)
    try:
        site = load_site(file)
    except ConfigError as exc:
        for problem in exc.problems:
            console.print(f"[red]error[/] {problem}", highlight=False)
        raise typer.Exit(1) from exc
    Console().print(
        f"{file}: ok — school {site.school.id}, gateway {site.gateway.id}, "
        f"{len(site.readers)} readers, {len(site.terminals)} terminals",
        highlight=False,
    )
