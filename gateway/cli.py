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
from gateway.backup import BackupFailed, backup_gateway
from gateway.site.config import ConfigError, load_site

__all__ = ["app", "backup", "run", "serve_gateway"]

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


@app.command()
def backup(
    out: Path = typer.Argument(..., help="The copy to write (a SQLite file), e.g. /backup/gw-17-2026-12-06.db."),
    config: Path = typer.Option(..., "--config", "-c", help="The site file (its data_dir names the database)."),
    profiles: Path | None = typer.Option(None, help="Directory of device profiles (as for run)."),
    pages: int = typer.Option(256, min=1, help="Pages (4 KiB) copied per step; smaller steps hold the disk less."),
) -> None:
    """Copy a RUNNING gateway's database (events, roster, photos) without pausing its taps.

    The copy is of one moment (every tap committed by then is in it), checked with SQLite's
    integrity check before it takes its name. Copy the site file and the gateway's secrets too
    (see the README's Backups).

    Example:
        mektep gateway backup --config /etc/mektep/school-17.yaml /backup/gw-17-$(date +%F).db
    """
    try:
        site = load_site(config, profiles)
    except ConfigError as exc:
        for problem in exc.problems:
            Console(stderr=True).print(f"[red]error[/] {problem}", highlight=False)
        raise typer.Exit(1) from exc
    try:
        done = backup_gateway(site.gateway.data_dir / "gateway.db", out, pages=pages)
    except BackupFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{done.path}: {done.events} events (last seq {done.last_seq}, {done.pending} undelivered), "
        f"{done.photos} photos, {done.size_bytes // 1024} KiB, integrity ok"
    )
