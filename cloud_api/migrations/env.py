"""Alembic environment: online migrations against the configured URL.

The URL comes from the Alembic config (``cloud_api.db.migrate`` sets it) or, when the alembic
command line runs with ``cloud_api/alembic.ini``, from the cloud's own settings.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

from cloud_api.db.distribution import distribute, is_citus
from cloud_api.db.engine import make_engine
from cloud_api.db.partitions import include_name
from cloud_api.db.schema import metadata

# Any number, the same in every process: the key of the PostgreSQL advisory lock below.
MIGRATION_LOCK = 0x6D656B74  # "mekt"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.get_main_option("sqlalchemy.url")
if not url:
    from cloud_api.settings import CloudSettings

    url = CloudSettings().database_url

# The settings' data keys, when cloud_api.db.migrate passes them; else the cloud's own settings'.
keys = config.attributes.get("data_keys")
if keys is None and not config.get_main_option("sqlalchemy.url"):
    from cloud_api.settings import CloudSettings

    keys = CloudSettings().data_keys()
engine = make_engine(url, keys)
try:
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several API processes may start at once, each migrating: one at a time.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            if is_citus(connection):
                # Shard by shard: Citus refuses an index on a distributed, partitioned table in a
                # transaction that has already run a parallel query (its shards' long index names).
                connection.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
            context.run_migrations()
            at_head = set(context.get_context().get_current_heads()) == set(context.script.get_heads())
        # On a Citus coordinator every table is then distributed (once: a second run does nothing);
        # not below the newest schema, whose keys are the ones Citus can hold (a downgrade's).
        if at_head:
            distribute(connection)
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
finally:
    engine.dispose()
