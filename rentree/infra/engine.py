"""Opening the directory's database: an engine from a URL, with rentree's error translation
and SQLite's lock patience."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from rentree.infra.db import LOCK_PATIENCE_OPTION, sqlite_pragmas
from rentree.infra.errors import translate_database_error

# SQLite has one writer at a time: a writer waits for the lock in steps of this many seconds,
# saying so after the first, until the engine's patience is spent.
_LOCK_STEP_SECONDS = 10


def make_engine(url: str, *, lock_patience_seconds: int = 3600) -> Engine:
    """An engine for the directory; on SQLite, the file's folder is created and WAL is on.

    Every database error it raises is a `DatabaseError`: one sentence, no statement, no
    parameter, no row (`infra.errors`). On SQLite, `directory_lock` and `write_when_free`
    wait up to `lock_patience_seconds` for another writer, saying that they wait."""
    step = max(1, min(_LOCK_STEP_SECONDS, lock_patience_seconds // 3))
    engine = _make_engine(url, step).execution_options(
        **{LOCK_PATIENCE_OPTION: lock_patience_seconds}
    )
    event.listen(engine, "handle_error", translate_database_error)
    return engine


def _make_engine(url: str, lock_step_seconds: int) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": lock_step_seconds})
        event.listen(engine, "connect", sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)
