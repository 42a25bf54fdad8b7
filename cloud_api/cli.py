"""``mektep cloud``: serve the API, migrate its database, register gateways and administrators, prune the journal.

Each command is a thin shell over one function of ``cloud_api.commands``. Settings not given as
options come from ``MEKTEP_CLOUD_*`` environment variables (see ``cloud_api.settings``).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from cloud_api import commands
from cloud_api.app import security_log_of
from cloud_api.backup import BackupError, Outcome
from cloud_api.core.data_keys import make_data_key as new_data_key
from cloud_api.core.errors import DomainError
from cloud_api.core.security_events import using_security_log
from cloud_api.settings import CloudSettings
from shared.i18n import translator

__all__ = [
    "DB_HELP",
    "admin_add",
    "app",
    "backup",
    "gateway_add",
    "init",
    "load_settings",
    "make_data_key",
    "migrate",
    "prune_journal",
    "restore",
    "rotate_key",
    "serve",
]

app = typer.Typer(
    help="The cloud API: serve it, migrate its database, register gateways.", no_args_is_help=True, add_completion=False
)
DB_HELP = "SQLAlchemy URL [default: $MEKTEP_CLOUD_DATABASE_URL, else sqlite:///var/cloud/cloud.db]"


def load_settings(database_url: str | None) -> CloudSettings:
    """The cloud's settings, with ``database_url`` when given; a refused setting exits with its message."""
    try:
        return CloudSettings(database_url=database_url) if database_url else CloudSettings()
    except ValidationError as exc:
        # A refused setting (a default admin token in production) is a clear message, not a trace.
        raise typer.BadParameter(str(exc), param_hint="MEKTEP_CLOUD_* environment") from None


@app.command()
def serve(
    database_url: str | None = typer.Option(None, help=DB_HELP),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    log_level: str = typer.Option("warning", help="uvicorn log level: debug, info, warning, error."),
    certfile: Path | None = typer.Option(None, help="TLS certificate (PEM, chain after it): serve https."),
    keyfile: Path | None = typer.Option(None, help="The certificate's private key (PEM)."),
) -> None:
    """Run the API, migrating the database first; over https when given a certificate and key.

    Example:
        MEKTEP_CLOUD_ADMIN_TOKEN=$(openssl rand -hex 16) mektep cloud serve --port 8000
        mektep cloud serve --database-url postgresql+psycopg://mektep@db/mektep --host 0.0.0.0
        mektep cloud serve --host 0.0.0.0 --port 443 --certfile /etc/mektep/cert.pem --keyfile /etc/mektep/key.pem
    """
    if (certfile is None) != (keyfile is None):
        raise typer.BadParameter("give both --certfile and --keyfile, or neither", param_hint="--certfile/--keyfile")
    for path in (certfile, keyfile):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path} is not a readable file", param_hint="--certfile/--keyfile")
    settings = load_settings(database_url)
    commands.serve(settings, host=host, port=port, log_level=log_level, certfile=certfile, keyfile=keyfile)


@app.command()
def migrate(database_url: str | None = typer.Option(None, help=DB_HELP)) -> None:
    """Bring the database to the newest schema (alembic upgrade head).

    Example:
        mektep cloud migrate --database-url postgresql+psycopg://postgres@127.0.0.1/mektep
    """
    settings = load_settings(database_url)
    commands.upgrade(settings.database_url, settings.data_keys())
    typer.echo("database at the newest schema")


@app.command()
def init(database_url: str | None = typer.Option(None, help=DB_HELP)) -> None:
    """Set up a new deployment: migrate the database and make its VAPID key (Web Push), once.

    Running it again changes nothing: the key stays, so the parents' subscriptions stay valid.

    Example:
        mektep cloud init --database-url postgresql+psycopg://postgres@127.0.0.1/mektep
    """
    settings = load_settings(database_url)
    public, made = commands.init(settings.database_url, keys=settings.data_keys())
    typer.echo(f"VAPID public key ({'new' if made else 'kept'}): {public}")


@app.command("gateway-add")
def gateway_add(
    gateway_id: str = typer.Argument(..., help="The gateway's id, as in its site file."),
    school: str = typer.Option(..., help="The school the gateway serves."),
    key_env: str = typer.Option(..., help="Environment variable holding the gateway's HMAC key (16+ characters)."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Register a gateway's signing key, or rotate the key of a registered one.

    The key is read from an environment variable, never from the command line (where any user
    could see it in the process list).

    Example:
        export MEKTEP_GATEWAY_KEY=$(openssl rand -hex 32)
        mektep cloud gateway-add gw-demo-1 --school demo-school --key-env MEKTEP_GATEWAY_KEY
    """
    key = os.environ.get(key_env)
    if not key:
        raise typer.BadParameter(f"environment variable {key_env} is not set", param_hint="--key-env")
    try:
        settings = load_settings(database_url)
        new = commands.add_gateway(settings.database_url, gateway_id, school, key, keys=settings.data_keys())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"gateway {gateway_id} {'registered' if new else 'key rotated'} for school {school}")


@app.command("school-add")
def school_add(
    school_id: str = typer.Argument(..., help="The school's id, as its gateways and roster name it."),
    name: str = typer.Option(..., help="The school's name, as the region's reports show it."),
    region: str = typer.Option(..., help="The region whose reports add the school up."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Name a school and place it in its region (again: rename it or move it).

    A school's own reports need nothing of this; the region's and the country's sums count only
    the schools placed here.

    Example:
        mektep cloud school-add school-17 --name "№ 17 мектеп-гимназия" --region almaty
    """
    try:
        settings = load_settings(database_url)
        commands.add_school(settings.database_url, school_id, name, region, keys=settings.data_keys())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    typer.echo(f"school {school_id} is in region {region}")


@app.command("admin-add")
def admin_add(
    login: str = typer.Argument(..., help="E-mail or phone number to sign in with."),
    school: str | None = typer.Option(None, help="The school the account administers."),
    deployment: bool = typer.Option(
        False, "--deployment", help="An administrator of the whole deployment instead (every account, every school)."
    ),
    password_env: str | None = typer.Option(
        None, help="Environment variable holding the password (for scripts); otherwise it is asked for, hidden."
    ),
    actor: str = typer.Option(getpass.getuser(), help="Who creates it (kept in the audit journal)."),
    language: str = typer.Option("ru", "--lang", help="Language of the messages: kk, ru or en."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Create a school's (or the deployment's) administrator with a password, so that a new deployment can sign in.

    The password is asked for twice without echo (never on the command line, where the process
    list shows it). The account then signs in at /office/sign-in (setting up its authenticator app
    at the first sign-in) and creates the others.

    Example:
        mektep cloud admin-add head@school-17.kz --school school-17 --lang kk
        ADMIN_PASSWORD=... mektep cloud admin-add +77011234567 --school school-17 --password-env ADMIN_PASSWORD
        mektep cloud admin-add it@mektep.kz --deployment
    """
    _ = translator(language)
    if (school is None) == (not deployment):
        raise typer.BadParameter(_("give either --school or --deployment"), param_hint="--school")
    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            raise typer.BadParameter(
                _("environment variable {name} is not set", name=password_env), param_hint="--password-env"
            )
    else:
        password = typer.prompt(_("Password"), hide_input=True)
        if typer.prompt(_("Repeat the password"), hide_input=True) != password:
            typer.echo(_("The passwords do not match."), err=True)
            raise typer.Exit(1)
    settings = load_settings(database_url)
    try:
        url, keys = settings.database_url, settings.data_keys()
        # The grant is a security event like one made in the office: to the deployment's stream too.
        with using_security_log(security_log_of(settings)):
            if school is None:
                account = commands.add_deployment_admin(url, login, password, actor=actor, keys=keys)
            else:
                account = commands.add_school_admin(url, login, password, school, actor=actor, keys=keys)
    except DomainError as error:
        typer.echo(_(error.code, **error.values), err=True)
        raise typer.Exit(1) from None
    if school is None:
        typer.echo(_("Account {login} created: administrator of the deployment.", login=account.login))
    else:
        typer.echo(_("Account {login} created: school_admin of {school}.", login=account.login, school=school))


@app.command("prune-journal")
def prune_journal(
    database_url: str | None = typer.Option(None, help=DB_HELP),
    days: int | None = typer.Option(
        None, min=1, help="Keep this many days [default: $MEKTEP_CLOUD_PACKET_RETENTION_DAYS, else 400]."
    ),
) -> None:
    """Delete journalled packets older than the retention period (run it daily, e.g. from cron).

    Example:
        mektep cloud prune-journal --days 400
    """
    settings = load_settings(database_url)
    removed = commands.prune_journal(
        settings.database_url, days or settings.packet_retention_days, keys=settings.data_keys()
    )
    typer.echo(f"{removed} packets removed")


PG_BIN_HELP = "Directory of pg_dump and pg_restore [default: those of the server's major version, found]."


def _report(outcome: Outcome, source: str) -> None:
    """Print what was compared, table by table, then exit 1 unless every table matched."""
    table = Table("table", f"rows ({source})", "rows (restored)", "checksum", box=None, pad_edge=False)
    for c in outcome.compared:
        rows = (str(c.source.rows) if c.source else "—", str(c.copy.rows) if c.copy else "—")
        table.add_row(c.table, *rows, "same" if c.same else "[red]DIFFERS[/]")
    console = Console(width=max(Console().width, 100))
    console.print(table, highlight=False)
    if outcome.restore_point:
        console.print(f"restore point {outcome.restore_point} created on every node", highlight=False)
    for note in outcome.notes:
        console.print(note, highlight=False)
    if not outcome.ok:
        typer.echo(f"error: {outcome.path}: the restored copy differs from {source}", err=True)
        raise typer.Exit(1)


@app.command()
def backup(
    out: Path = typer.Argument(..., help="The backup file to write (its sums go beside it, in OUT.sums.json)."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
    pg_bin: Path | None = typer.Option(None, help=PG_BIN_HELP),
) -> None:
    """Back the database up (PostgreSQL: pg_dump -Fc; SQLite: online backup) and prove it by a restore.

    The copy is restored into a scratch database and every table's rows and checksum are compared
    with the source's at the moment of the copy; the command prints what it compared and exits 1
    when a table differs (the file then stays OUT.partial). On Citus it also creates a restore point
    on every node (see the README's Backups for what a dump of a Citus cluster holds).

    Example:
        mektep cloud backup /backup/cloud-$(date +%F).dump --database-url postgresql+psycopg://mektep@db/mektep
        mektep cloud backup /backup/cloud-$(date +%F).db --database-url sqlite:///var/cloud/cloud.db
    """
    url = load_settings(database_url).database_url
    try:
        outcome = commands.backup_database(url, out, pg_bin=pg_bin)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _report(outcome, "source")
    typer.echo(f"backup {outcome.path} verified")


@app.command()
def restore(
    backup_file: Path = typer.Argument(..., help="A file made by mektep cloud backup (its .sums.json beside it)."),
    database_url: str | None = typer.Option(None, help=DB_HELP + "; it must be empty"),
    pg_bin: Path | None = typer.Option(None, help=PG_BIN_HELP),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Compare with the sums kept at backup time."),
) -> None:
    """Restore a backup into an EMPTY database and compare every table with the backup's sums.

    Prints what it compared and exits 1 when a table differs. A damaged or truncated file is
    refused with its reason. Then start the cloud on it (mektep cloud serve migrates it forward
    when the backup is of an older version).

    Example:
        createdb mektep_restored
        mektep cloud restore /backup/cloud-2026-12-06.dump --database-url postgresql+psycopg://mektep@db/mektep_restored
    """
    url = load_settings(database_url).database_url
    try:
        outcome = commands.restore_database(backup_file, url, pg_bin=pg_bin, verify=verify)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _report(outcome, "backup")
    typer.echo(f"restored {backup_file} into {url.rsplit('@', 1)[-1]}")


@app.command("make-data-key")
def make_data_key() -> None:
    """Print a new random data key (32 bytes, base64) for MEKTEP_CLOUD_DATA_KEY.

    Keep it where the deployment's other secrets are kept: without it the IINs, phones and e-mails
    in the database (and in its backups) cannot be read.

    Example:
        export MEKTEP_CLOUD_DATA_KEY=$(mektep cloud make-data-key)
    """
    typer.echo(new_data_key())


@app.command("rotate-key")
def rotate_key(
    database_url: str | None = typer.Option(None, help=DB_HELP),
    batch: int = typer.Option(200, min=1, help="Rows re-encrypted in each transaction."),
) -> None:
    """Re-encrypt the personal data under the current data key while the cloud keeps serving.

    First give every API process the new key in MEKTEP_CLOUD_DATA_KEY and the old one in
    MEKTEP_CLOUD_DATA_KEY_PREVIOUS (they read both, write the new one), then run this; when it is
    done, the old key may leave the settings. Running it again changes nothing.

    Example:
        MEKTEP_CLOUD_DATA_KEY=$NEW MEKTEP_CLOUD_DATA_KEY_PREVIOUS=$OLD mektep cloud rotate-key
    """
    settings = load_settings(database_url)
    report = commands.rotate_key(settings.database_url, settings.data_keys(), batch=batch)
    for name, rows in report.rewritten.items():
        typer.echo(f"{name}: {rows} rows re-encrypted")
    typer.echo(f"every value is under data key {settings.data_keys().current.id}")


@app.command("nedb-enable")
def nedb_enable(
    school_id: str = typer.Argument(..., help="The school's id, as its gateways and roster name it."),
    organisation: str = typer.Argument(..., help="The school's organisation code in the NEDB."),
    actor: str = typer.Option(getpass.getuser(), help="Who turns it on (kept in the audit journal)."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Let a school take part in the exchange with the National Education Database (NEDB, §15).

    Its roster is then pulled every MEKTEP_CLOUD_NEDB_PULL_MINUTES and its figures sent back (the
    cloud needs MEKTEP_CLOUD_NEDB_URL and its keys); its first pull is due at once. The file import
    stays available. A new code starts the school's versions afresh.

    Example:
        mektep cloud nedb-enable school-17 010101500001
    """
    settings = load_settings(database_url)
    try:
        changed = commands.link_school_to_nedb(
            settings.database_url, school_id, organisation, actor=actor, keys=settings.data_keys()
        )
    except DomainError as exc:
        raise typer.BadParameter(str(exc), param_hint="ORGANISATION") from None
    typer.echo(
        f"school {school_id} {'takes part' if changed else 'already takes part'} in the NEDB exchange as {organisation}"
    )


@app.command("wallet-vouchers")
def wallet_vouchers(
    school_id: str = typer.Argument(..., help="The school's id, as its gateways and roster name it."),
    actor: str = typer.Option(getpass.getuser(), help="Who asks (kept in the audit journal)."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Learn from the Social Wallet each student's free-meal voucher (what its dynamic QR code names).

    Asks MEKTEP_CLOUD_SOCIAL_WALLET_URL by IIN for every active student who has no voucher yet; the
    gateways get the vouchers with their next roster pull. Run it after a roster import.

    Example:
        mektep cloud wallet-vouchers school-17
    """
    settings = load_settings(database_url)
    if not settings.social_wallet_url:
        raise typer.BadParameter("MEKTEP_CLOUD_SOCIAL_WALLET_URL is not set", param_hint="MEKTEP_CLOUD_* environment")
    asked, recorded, without = commands.refresh_wallet_vouchers(
        settings.database_url, school_id, settings.social_wallet_url, actor=actor, keys=settings.data_keys()
    )
    typer.echo(f"school {school_id}: asked for {asked} students, {recorded} vouchers recorded, {without} without one")


@app.command("nedb-disable")
def nedb_disable(
    school_id: str = typer.Argument(..., help="The school's id."),
    actor: str = typer.Option(getpass.getuser(), help="Who turns it off (kept in the audit journal)."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Take a school out of the NEDB exchange: back to the file import (the exchange's journal is kept).

    Example:
        mektep cloud nedb-disable school-17
    """
    settings = load_settings(database_url)
    left = commands.link_school_to_nedb(settings.database_url, school_id, None, actor=actor, keys=settings.data_keys())
    typer.echo(f"school {school_id} {'left' if left else 'did not take part in'} the NEDB exchange")


@app.command("rotate-oidc-key")
def rotate_oidc_key(database_url: str | None = typer.Option(None, help=DB_HELP)) -> None:
    """Sign single sign-on's ID tokens with a new key from now on (§33-1.13).

    The key it replaces stays published at /oidc/jwks for two days, so tokens it signed still
    verify; platforms pick the new key up by its id. Keys are also rotated on their own every 90
    days, at the next sign-in.

    Example:
        mektep cloud rotate-oidc-key
    """
    settings = load_settings(database_url)
    kid = commands.rotate_oidc_key(settings.database_url, settings.data_keys())
    typer.echo(f"ID tokens are now signed by key {kid}; the previous key stays in the JWKS for 2 days")


if __name__ == "__main__":
    app()
