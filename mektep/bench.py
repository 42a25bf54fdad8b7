"""Command group (filled in by its package)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)
