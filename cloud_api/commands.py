"""The library functions behind ``mektep cloud ...``: each command calls one of these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from cloud_api import backup as backups
from cloud_api.app import create_app
from cloud_api.core.data_keys import DataKeys
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.integrations.oidc.keys import rotate_signing_key
from cloud_api.push.keys import ensure_vapid_key
from cloud_api.roster.nedb import read_roster
from cloud_api.services.accounts import Account, Role, create_account, create_school_admin, grant_role
from cloud_api.services.gateways import register_gateway
from cloud_api.services.journal import prune_packets
from cloud_api.services.key_rotation import RotationReport, rotate_keys
from cloud_api.services.roster_import import ImportReport, import_roster
from cloud_api.services.schools import place_school
from cloud_api.settings import CloudSettings

__all__ = [
    "add_deployment_admin",
    "add_gateway",
    "add_school_admin",
    "backup_database",
    "import_roster_file",
    "link_school_to_nedb",
    "prune_journal",
    "restore_database",
    "rotate_key",
    "serve",
    "upgrade",
]


def serve(
    settings: CloudSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    """Migrate the database, then serve the API with uvicorn until SIGINT/SIGTERM; over TLS when
    given a certificate (PEM, the chain after it) and its key.

    Migrating once here, before the first request is possible, rather than in the app's lifespan.
    """
    if (certfile is None) != (keyfile is None):
        raise ValueError("give both a certificate and its key, or neither")
    upgrade(settings.database_url, settings.data_keys())
    app = create_app(settings.model_copy(update={"migrate_on_start": False}))
    tls = {} if certfile is None else {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
    uvicorn.run(app, host=host, port=port, log_level=log_level, **tls)  # type: ignore[arg-type]


def init(database_url: str, *, keys: DataKeys | None = None) -> tuple[str, bool]:
    """Migrate the database and make the deployment's keys if missing: (VAPID public key, made now)."""
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return ensure_vapid_key(conn)
    finally:
        engine.dispose()


def add_gateway(database_url: str, gateway_id: str, school_id: str, key: str, *, keys: DataKeys | None = None) -> bool:
    """Migrate, then register the gateway's key or rotate it, committed; True when it is new."""
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return register_gateway(conn, gateway_id, school_id, key)
    finally:
        engine.dispose()


def add_school(database_url: str, school_id: str, name: str, region_id: str, *, keys: DataKeys | None = None) -> None:
    """Migrate, then name the school and place it in its region, committed."""
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            place_school(conn, school_id, name, region_id)
    finally:
        engine.dispose()


def add_school_admin(
    database_url: str, login: str, password: str, school_id: str, *, actor: str, keys: DataKeys | None = None
) -> Account:
    """Migrate, then create an account with ``password`` that is school_admin of ``school_id``, committed.

    Raises ``DomainError`` (``bad_login``, ``password_too_short``, ``login_taken``, ``bad_scope``).
    """
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return create_school_admin(conn, login, password, school_id, actor=actor)
    finally:
        engine.dispose()


def add_deployment_admin(
    database_url: str, login: str, password: str, *, actor: str, keys: DataKeys | None = None
) -> Account:
    """Migrate, then create an account with ``password`` that is the deployment's administrator, committed."""
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            account = create_account(conn, login, actor=actor, password=password)
            grant_role(conn, account.id, Role.DEPLOYMENT_ADMIN, None, actor=actor)
            return account
    finally:
        engine.dispose()


def prune_journal(
    database_url: str, retention_days: int, now: datetime | None = None, *, keys: DataKeys | None = None
) -> int:
    """Delete journalled packets older than ``retention_days``, committed; how many went."""
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return prune_packets(conn, now or datetime.now(UTC), retention_days)
    finally:
        engine.dispose()


def import_roster_file(
    database_url: str,
    path: Path,
    school_id: str,
    *,
    actor: str,
    on_parsed: Callable[[int], None] = lambda _n: None,
    progress: Callable[[int], None] = lambda _n: None,
    complete: bool = False,
    keys: DataKeys | None = None,
) -> ImportReport:
    """Migrate, then import an NEDB export into ``school_id`` in one transaction (see
    :func:`~cloud_api.services.roster_import.import_roster` for ``complete``).

    ``on_parsed(rows)`` is called once the file is read, ``progress(n)`` as rows are stored.
    """
    roster = read_roster(path)
    on_parsed(len(roster.rows))
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return import_roster(conn, school_id, roster, actor=actor, progress=progress, complete=complete)
    finally:
        engine.dispose()


def backup_database(database_url: str, path: Path, *, pg_bin: Path | None = None) -> backups.Outcome:
    """Back the database up into ``path`` and prove the copy by a restore (:func:`cloud_api.backup.backup`)."""
    return backups.backup(database_url, path, pg_bin=pg_bin)


def restore_database(
    path: Path, database_url: str, *, pg_bin: Path | None = None, verify: bool = True
) -> backups.Outcome:
    """Restore ``path`` into an empty database, compared with the backup's sums (:func:`cloud_api.backup.restore`)."""
    return backups.restore(path, database_url, pg_bin=pg_bin, verify=verify)


def rotate_key(
    database_url: str, keys: DataKeys, *, batch: int = 200, progress: Callable[[str, int], None] = lambda _t, _n: None
) -> RotationReport:
    """Migrate, then re-encrypt every value under ``keys``' current key, ``batch`` rows a transaction."""
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        return rotate_keys(engine, batch=batch, progress=progress)
    finally:
        engine.dispose()


def link_school_to_nedb(
    database_url: str, school_id: str, organisation: str | None, *, actor: str, keys: DataKeys | None = None
) -> bool:
    """Migrate, then let the school take part in the NEDB exchange under ``organisation`` (None: leave it),
    committed and journalled; whether anything changed. ``DomainError`` for a code that is not one."""
    from cloud_api.nedb.store import disable, enable, link_of

    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            now = datetime.now(UTC)
            if organisation is None:
                return disable(conn, school_id, actor=actor, now=now)
            before = link_of(conn, school_id)
            enable(conn, school_id, organisation, actor=actor, now=now)
            return before is None or before.organisation != organisation
    finally:
        engine.dispose()


def rotate_oidc_key(database_url: str, keys: DataKeys) -> str:
    """Migrate, then retire the key that signs ID tokens and make a new one; the new key's id.

    The retired key stays in the JWKS until every token it signed has expired, so no platform's
    session breaks.
    """
    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with engine.begin() as conn:
            return rotate_signing_key(conn, datetime.now(UTC))
    finally:
        engine.dispose()


def refresh_wallet_vouchers(
    database_url: str, school_id: str, wallet_url: str, *, actor: str, keys: DataKeys | None = None
) -> tuple[int, int, int]:
    """Migrate, then ask the Social Wallet for the voucher of each student of the school who has none.

    (asked, recorded, without a voucher); what the Wallet answered is kept even if it fails half-way.
    """
    import httpx

    from cloud_api.social_wallet.vouchers import refresh_vouchers

    upgrade(database_url, keys)
    engine = make_engine(database_url, keys)
    try:
        with httpx.Client(base_url=wallet_url, timeout=10.0) as client:
            return tuple(refresh_vouchers(engine, school_id, client, actor=actor))  # type: ignore[return-value]
    finally:
        engine.dispose()
