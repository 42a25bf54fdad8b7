"""``mektep gateway``: run a school's gateway from its site file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from device_drivers.base import utcnow
from gateway.access import store
from gateway.app import Gateway
from gateway.backup import BackupFailed, backup_gateway
from gateway.site.config import ConfigError, SiteConfig, load_site
from gateway.taps.outbox import open_database

__all__ = ["app", "backup", "devices", "pair", "run", "serve_gateway", "unpair"]

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
        asyncio.run(serve_gateway(gateway))
    except ConfigError as exc:
        _refused(exc)


def _refused(exc: ConfigError) -> NoReturn:
    for problem in exc.problems:
        Console(stderr=True).print(f"[red]error[/] {problem}", highlight=False)
    raise typer.Exit(1) from exc


def _access_db(config: Path):  # type: ignore[no-untyped-def]
    """The gateway's database, for the access commands (the running gateway shares it: WAL)."""
    try:
        site: SiteConfig = load_site(config)
        db = open_database(site.gateway.data_dir / "gateway.db")
    except ConfigError as exc:
        _refused(exc)
    store.migrate(db)
    return db


CONFIG = typer.Option(..., "--config", "-c", help="The school's site file.")


@app.command()
def pair(config: Path = CONFIG) -> None:
    """Make a one-time code that pairs a device (the canteen PC) with the gateway's pages.

    Type the code on the device's sign-in page within 15 minutes, with a name for the device.
    The device then opens the canteen screen, the events page and the roll call without a PIN until
    unpaired.

    Example:
        mektep gateway pair --config firmware_configs/sites/demo-school.yaml
    """
    db = _access_db(config)
    try:
        code = store.issue_code(db, utcnow())
    finally:
        db.close()
    typer.echo(f"pairing code: {code} (works once, for 15 minutes)")


@app.command()
def devices(config: Path = CONFIG) -> None:
    """List the devices ever paired with the gateway's pages, unpaired ones too.

    Example:
        mektep gateway devices --config firmware_configs/sites/demo-school.yaml
    """
    db = _access_db(config)
    try:
        found = store.devices(db)
    finally:
        db.close()
    for d in found:
        state = f"unpaired {d.revoked_at}" if d.revoked_at else "paired"
        typer.echo(f"{d.id}\t{d.name}\t{d.paired_at}\t{d.address or ''}\t{state}")


@app.command()
def unpair(
    device: int = typer.Argument(..., help="The device's number, as `devices` lists it."), config: Path = CONFIG
) -> None:
    """Unpair a device: its browser opens nothing more (journalled).

    Example:
        mektep gateway unpair 3 --config firmware_configs/sites/demo-school.yaml
    """
    db = _access_db(config)
    try:
        done = store.revoke(db, device, utcnow())
    finally:
        db.close()
    if not done:
        typer.echo(f"no paired device {device}", err=True)
        raise typer.Exit(1)
    typer.echo(f"device {device} unpaired")


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
        _refused(exc)
    try:
        done = backup_gateway(site.gateway.data_dir / "gateway.db", out, pages=pages)
    except BackupFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{done.path}: {done.events} events (last seq {done.last_seq}, {done.pending} undelivered), "
        f"{done.photos} photos, {done.size_bytes // 1024} KiB, integrity ok"
    )
