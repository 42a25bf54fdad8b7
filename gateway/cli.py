"""``mektep gateway``: run a school's gateway from its site file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import typer
from rich.console import Console

from gateway.app import Gateway
from gateway.site.config import ConfigError, load_site

__all__ = ["app", "run", "serve_gateway"]

app = typer.Typer(help="The on-site gateway.", no_args_is_help=True, add_completion=False)


async def serve_gateway(gateway: Gateway) -> None:
    """Run ``gateway`` until SIGINT or SIGTERM, then stop every part cleanly."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await gateway.run()


@app.command()
def run(
    config: Path = typer.Option(..., "--config", "-c", help="The school's site file."),
    profiles: Path | None = typer.Option(
        None, help="Directory of device profiles (default: ../profiles beside the site file's directory)."
    ),
    ui_port: int | None = typer.Option(None, help="Port of the local page (default: from the site file)."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run the gateway: read the readers, decide, record durably, forward to the cloud.

    Example:
        MEKTEP_GATEWAY_KEY=... MEKTEP_CREDENTIAL_KEY=... MEKTEP_MQTT_PASSWORD=... \\
            mektep gateway run --config firmware_configs/sites/demo-school.yaml
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        site = load_site(config, profiles)
        gateway = Gateway.from_site(site, ui_port=ui_port)
    except ConfigError as exc:
        for problem in exc.problems:
            Console(stderr=True).print(f"[red]error[/] {problem}", highlight=False)
        raise typer.Exit(1) from exc
    asyncio.run(serve_gateway(gateway))
