"""Alembic environment: the engine comes from `infra.migrate.upgrade`, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from rentree.infra.schema import metadata

engine: Engine | None = context.config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: take the configured database
    from rentree.infra.engine import make_engine
    from rentree.infra.settings import load_settings

    engine = make_engine(load_settings().database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
