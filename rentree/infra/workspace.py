"""The resources a command or a flow works with: settings, database engine, object store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from rentree.infra.db import make_engine, upgrade
from rentree.infra.settings import Settings, load_settings
from rentree.infra.storage import ObjectStore, open_store


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    engine: Engine
    store: ObjectStore


def open_workspace(settings: Settings | None = None, *, migrate: bool = True) -> Workspace:
    """Open the configured database and store; the schema is brought up to date first."""
    settings = settings or load_settings()
    engine = make_engine(
        settings.database_url, lock_patience_seconds=settings.sqlite_lock_patience_seconds
    )
    if migrate:
        upgrade(engine)
    return Workspace(settings=settings, engine=engine, store=open_store(settings))
