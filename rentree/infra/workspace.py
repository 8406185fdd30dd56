"""The resources a command or a flow works with: settings, database engine, object store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from rentree.infra.engine import make_engine
from rentree.infra.migrate import schema_state, upgrade
from rentree.infra.settings import ConfigurationError, Settings, load_settings, redact_url
from rentree.infra.storage import ObjectStore, open_store


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    engine: Engine
    store: ObjectStore


def open_workspace(settings: Settings | None = None, *, create: bool = False) -> Workspace:
    """Open the configured database and store.

    Only `create` (`rentree init`, the demo) makes a new directory: the database, its schema
    and the storage layout. Otherwise a database without the rentree schema, or a storage root
    that is missing, is refused in one sentence (ConfigurationError): a mistyped path must not
    become an empty directory whose next import counts as a first year. A schema of an older
    revision is brought up to date.
    """
    settings = settings or load_settings()
    store = open_store(settings)  # the URL's form first: no I/O yet
    url = settings.database_url
    if not create:
        _refuse_missing_sqlite_file(url)
    engine = make_engine(url, lock_patience_seconds=settings.sqlite_lock_patience_seconds)
    try:
        state = schema_state(engine)
        if state == "absent" and not create:
            raise ConfigurationError(
                f"RENTREE_DATABASE_URL: the database {redact_url(_shown(url))} holds no rentree "
                "directory; run `rentree init` to create it, or fix RENTREE_DATABASE_URL."
            )
        if state != "current":
            upgrade(engine)
        if create:
            store.ensure_layout()
        else:
            store.check()
    except BaseException:
        engine.dispose()
        raise
    return Workspace(settings=settings, engine=engine, store=store)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=False)


def _refuse_missing_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if path.is_file():
        return
    what = "is a folder, not a database file" if path.exists() else "does not exist"
    raise ConfigurationError(
        f"RENTREE_DATABASE_URL: the database file {path} ({url}) {what}; run `rentree init` to "
        "create it, or fix RENTREE_DATABASE_URL."
    )
