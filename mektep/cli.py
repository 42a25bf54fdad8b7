"""The ``mektep`` command: a thin shell over the packages; each group lives with its package."""

from __future__ import annotations

import typer

from cloud_api.cli import app as cloud_app
from cloud_api.reports.cli import app as report_app
from cloud_api.roster.cli import app as roster_app
from gateway.cli import app as gateway_app
from gateway.site.cli import app as config_app
from mektep.bench import app as bench_app
from mektep.demo import app as demo_app
from simulators.cli import app as sim_app

__all__ = ["app"]

app = typer.Typer(
    help="Mektep Gate: school entry and canteen gateway, cloud and simulators.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(demo_app, name="demo")
app.add_typer(cloud_app, name="cloud")
app.add_typer(gateway_app, name="gateway")
app.add_typer(sim_app, name="sim")
app.add_typer(bench_app, name="bench")
app.add_typer(config_app, name="config")
app.add_typer(roster_app, name="roster")
app.add_typer(report_app, name="report")

if __name__ == "__main__":
    app()
