"""``mektep config``: check site files, export their JSON Schema, generate the school's broker config."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from gateway.broker.mosquitto_config import BrokerLayout, generate_broker
from gateway.site.config import ConfigError, load_site
from gateway.site.schema import SCHEMA_DIR, write_schemas

__all__ = ["app", "check", "mosquitto", "schema"]

app = typer.Typer(help="Check and render site configuration.", no_args_is_help=True, add_completion=False)


def _fail(exc: ConfigError) -> typer.Exit:
    console = Console(stderr=True)
    for problem in exc.problems:
        console.print(f"[red]error[/] {problem}", highlight=False)
    return typer.Exit(1)


@app.command()
def check(
    file: Path = typer.Argument(..., help="A site file, e.g. firmware_configs/sites/demo-school.yaml"),
    profiles: Path | None = typer.Option(
        None, help="Directory of device profiles (default: ../profiles beside the site file's directory)."
    ),
) -> None:
    """Validate a site file and the device profiles it uses; every error names the file, line and field.

    Example:
        mektep config check firmware_configs/sites/demo-school.yaml
    """
    try:
        site = load_site(file, profiles)
    except ConfigError as exc:
        raise _fail(exc) from exc
    Console().print(
        f"{file}: ok — school {site.school.id}, gateway {site.gateway.id}, "
        f"{len(site.readers)} serial readers, {sum(len(b.readers) for b in site.osdp_buses)} OSDP readers "
        f"on {len(site.osdp_buses)} buses, {len(site.relays)} relay boards, {len(site.terminals)} terminals",
        highlight=False,
    )


@app.command()
def mosquitto(
    file: Path = typer.Argument(..., help="A site file with an 'mqtt' section and a password for each terminal."),
    out: Path = typer.Option(..., "--out", help="Directory for mosquitto.conf, passwd and acl (made if absent)."),
    data_dir: Path | None = typer.Option(None, help="The broker's persistence directory [default: OUT/data]."),
    bind: str = typer.Option("0.0.0.0", help="Address the listeners bind to (127.0.0.1: this machine only)."),
    user: str = typer.Option("mosquitto", help="User the broker drops to when started as root; owns passwd and acl."),
) -> None:
    """Write the school's Mosquitto config, password file and ACL, generated from its site file.

    Each terminal logs in with its id and may publish only its own tap and status topics and read
    only its own feedback topic; the gateway (mqtt.username) reads every terminal's taps and
    statuses and writes their feedback and its own status. Anonymous clients are refused. The
    passwords are read from the site file's references and written only as salted PBKDF2 hashes
    (file mode 0600); a password that cannot be read fails the command, naming it.

    Example:
        mektep config mosquitto firmware_configs/sites/demo-school.yaml --out /etc/mosquitto/mektep
        mosquitto -c /etc/mosquitto/mektep/mosquitto.conf
    """
    layout = BrokerLayout(out, data_dir, bind=bind, run_as=user)
    try:
        written = generate_broker(file, layout)
    except ConfigError as exc:
        raise _fail(exc) from exc
    except (OSError, LookupError) as exc:
        Console(stderr=True).print(f"[red]error[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    console = Console(soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"start: mosquitto -c {layout.conf_file}", highlight=False)


@app.command()
def schema(out: Path = typer.Option(SCHEMA_DIR, help="Directory to write the schema files into.")) -> None:
    """Write site.schema.json and profile.schema.json (JSON Schema, for editors) into OUT.

    Example:
        mektep config schema --out firmware_configs/schema
    """
    for path in write_schemas(out):
        Console(soft_wrap=True).print(f"wrote {path}", highlight=False)
