"""Alembic environment: online migrations against the configured URL."""

from __future__ import annotations

from alembic import context

from cloud_api.db.engine import make_engine
from cloud_api.db.schema import metadata

target_metadata = metadata
url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
