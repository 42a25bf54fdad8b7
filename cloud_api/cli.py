"""``mektep cloud``: serve the API, migrate its database, register gateways."""

from __future__ import annotations

import os

import typer
import uvicorn

from cloud_api.app import create_app
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.services.gateways import register_gateway
from cloud_api.settings import CloudSettings

__all__ = ["app", "gateway_add", "migrate", "serve"]

app = typer.Typer(help="The cloud API.", no_args_is_help=True, add_completion=False)
DB_HELP = "SQLAlchemy URL, e.g. sqlite:///var/cloud/cloud.db or postgresql+psycopg://user@host/db"


def _settings(database_url: str | None) -> CloudSettings:
    return CloudSettings(database_url=database_url) if database_url else CloudSettings()


@app.command()
def serve(
    database_url: str | None = typer.Option(None, help=DB_HELP),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Run the API (migrating the database first).

    Example:
        MEKTEP_CLOUD_ADMIN_TOKEN=change-me mektep cloud serve --port 8000
    """
    uvicorn.run(create_app(_settings(database_url)), host=host, port=port, log_level="warning")


@app.command()
def migrate(database_url: str | None = typer.Option(None, help=DB_HELP)) -> None:
    """Bring the database to the newest schema.

    Example:
        mektep cloud migrate --database-url postgresql+psycopg://postgres@127.0.0.1/mektep
    """
    upgrade(_settings(database_url).database_url)


@app.command("gateway-add")
def gateway_add(
    gateway_id: str = typer.Argument(..., help="The gateway's id, as in its site file."),
    school: str = typer.Option(..., help="The school the gateway serves."),
    key_env: str = typer.Option(..., help="Environment variable holding the gateway's HMAC key."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Register a gateway's signing key (or rotate it).

    Example:
        MEKTEP_GATEWAY_KEY=... mektep cloud gateway-add gw-demo-1 --school demo-school --key-env MEKTEP_GATEWAY_KEY
    """
    key = os.environ.get(key_env)
    if not key:
        raise typer.BadParameter(f"environment variable {key_env} is not set", param_hint="--key-env")
    url = _settings(database_url).database_url
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        register_gateway(conn, gateway_id, school, key)
    engine.dispose()
