"""The schema's migrations: bringing a database to the newest one, and telling where it stands."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from rentree.infra import schema

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration; harmless when already there."""
    command.upgrade(alembic_config(engine), "head")


def schema_is_current(engine: Engine) -> bool:
    return set(schema.metadata.tables) <= set(inspect(engine).get_table_names())


SchemaState = Literal["absent", "outdated", "current"]


def schema_state(engine: Engine) -> SchemaState:
    """Does the database hold a rentree directory, and at the newest migration?

    `absent`: no rentree table (a mistyped URL, an empty database): only `rentree init`
    creates one. `outdated`: an older revision, which any command may bring up to date.
    """
    from alembic.runtime.migration import MigrationContext

    tables = set(inspect(engine).get_table_names())
    if not tables & set(schema.metadata.tables):
        return "absent"
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return "current" if current == _migration_heads() and schema_is_current(engine) else "outdated"


@cache
def _migration_heads() -> frozenset[str]:
    """The newest revisions shipped with this version (read once: loading the scripts is
    not thread-safe, and flows in one process open their workspace side by side)."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())
