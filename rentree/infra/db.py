"""Database engine, migrations and the set-based loaders every task uses."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import polars as pl
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.selectable import FromClause, Join

from rentree.infra import schema
from rentree.infra.errors import DatabaseError, describe_database_error, translate_database_error

_MIGRATIONS = Path(__file__).parent / "migrations"


# SQLite has one writer at a time: a writer waits for the lock in steps of this many seconds,
# saying so after the first, until the engine's patience is spent.
_LOCK_STEP_SECONDS = 10


def make_engine(url: str, *, lock_patience_seconds: int = 3600) -> Engine:
    """An engine for the directory; on SQLite, the file's folder is created and WAL is on.

    Every database error it raises is a `DatabaseError`: one sentence, no statement, no
    parameter, no row (`infra.errors`). On SQLite, `directory_lock` and `write_when_free`
    wait up to `lock_patience_seconds` for another writer, saying that they wait."""
    step = max(1, min(_LOCK_STEP_SECONDS, lock_patience_seconds // 3))
    engine = _make_engine(url, step).execution_options(rentree_lock_patience=lock_patience_seconds)
    event.listen(engine, "handle_error", translate_database_error)
    return engine


def _make_engine(url: str, lock_step_seconds: int) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": lock_step_seconds})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration; harmless when already there."""
    command.upgrade(alembic_config(engine), "head")


def is_postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


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


def directory_lock(conn: Connection) -> None:
    """Take the directory's write lock for the rest of the caller's transaction, so that two
    runs that change the directory never overlap (operations.md).

    PostgreSQL: a transaction-level advisory lock. SQLite: an UPDATE that matches nothing
    still takes the database's write lock; the other writer waits (busy timeout).
    """
    if is_postgresql(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    else:
        # the lock is the first write of the transaction: retrying it is safe
        _patiently(
            conn.engine,
            lambda: conn.execute(text("UPDATE school_years SET phase = phase WHERE 1 = 0")),
        )


T = TypeVar("T")


def write_when_free(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in its own transaction, committed; on SQLite, while another writer holds
    the database, wait (and say so) instead of failing after the driver's timeout."""

    def attempt() -> T:
        with engine.begin() as conn:
            return work(conn)

    return _patiently(engine, attempt)


def _patiently(engine: Engine, attempt: Callable[[], T], say: Callable[[str], None] = print) -> T:
    patience = float(engine.get_execution_options().get("rentree_lock_patience", 3600))
    started = time.monotonic()
    while True:
        try:
            return attempt()
        except DatabaseError as exc:
            waited = time.monotonic() - started
            if not exc.locked:
                raise
            if waited >= patience:
                raise DatabaseError(
                    f"the SQLite database stayed locked by another writer for {waited:.0f} s; "
                    "let that run finish (rentree status shows it) or raise "
                    "RENTREE_SQLITE_LOCK_PATIENCE_SECONDS",
                    kind=exc.kind,
                    locked=True,
                ) from None
            say(
                f"Waiting for the database: another run is writing to it ({waited:.0f} s so "
                "far; SQLite has one writer at a time)."
            )


def insert_frame(
    conn: Connection, table: Table, frame: pl.DataFrame, *, json_text: bool = False
) -> int:
    """Bulk-insert a frame whose columns are a subset of the table's.

    PostgreSQL takes the rows through COPY; SQLite through one `executemany`. With
    `json_text`, the frame's text columns for JSON columns already hold JSON and go in as
    they are (Core's JSON type would encode them a second time).
    """
    if frame.is_empty():
        return 0
    columns = [c for c in frame.columns if c in table.c]
    frame = frame.select(columns)
    if is_postgresql(conn):
        _copy_into(conn, table.name, frame)
    elif (sqlite_rows := _sqlite_ready(table, frame, json_text)) is not None:
        _sqlite_executemany(conn, table.name, sqlite_rows)
    else:
        conn.execute(table.insert(), frame.to_dicts())
    return frame.height


def _sqlite_ready(table: Table, frame: pl.DataFrame, json_text: bool) -> pl.DataFrame | None:
    """The frame as SQLAlchemy's SQLite types would store it, or None when a column needs
    SQLAlchemy's own conversion (JSON not given as text, objects)."""
    for name, dtype in frame.schema.items():
        column_type = table.c[name].type
        if isinstance(column_type, JSON) and not (json_text and dtype == pl.String):
            return None
        if dtype == pl.Object or isinstance(dtype, pl.List | pl.Struct | pl.Array):
            return None
        if isinstance(column_type, DateTime) and not isinstance(dtype, pl.Datetime):
            return None
        if isinstance(column_type, Date) and dtype != pl.Date:
            return None
    return _sqlite_stored(frame)


def _sqlite_stored(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and timestamps as the text SQLAlchemy's SQLite types store (timestamps in UTC,
    without offset), so that rows loaded by the driver read back like rows Core wrote."""
    converted: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            value = pl.col(name)
            if dtype.time_zone is not None:
                value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            converted.append(value.dt.strftime("%Y-%m-%d %H:%M:%S%.6f").alias(name))
        elif dtype == pl.Date:
            converted.append(pl.col(name).dt.strftime("%Y-%m-%d").alias(name))
    return frame.with_columns(converted) if converted else frame


_COPY_SLICE = 100_000


def _copy_into(conn: Connection, table_name: str, frame: pl.DataFrame) -> None:
    import psycopg

    raw = conn.connection.driver_connection
    column_list = ", ".join(f'"{c}"' for c in frame.columns)
    # Flat columns go as CSV written by polars, a slice at a time (no Python per row): an
    # unquoted empty field is NULL, a quoted one the empty string. Nested or object columns
    # (rare here) go row by row through psycopg's own adaptation.
    as_csv = not any(
        isinstance(t, pl.List | pl.Struct | pl.Array | pl.Object) for t in frame.dtypes
    )
    statement = f'COPY "{table_name}" ({column_list}) FROM STDIN' + (
        " (FORMAT csv)" if as_csv else ""
    )
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            if as_csv:
                for start in range(0, frame.height, _COPY_SLICE):
                    copy.write(frame.slice(start, _COPY_SLICE).write_csv(include_header=False))
            else:
                for row in frame.iter_rows():
                    copy.write_row(row)
    except psycopg.Error as error:
        # COPY bypasses SQLAlchemy's error hook: the same translation as any other statement.
        raise describe_database_error(error, table_name) from None


def staging_table(
    conn: Connection,
    name: str,
    frame: pl.DataFrame,
    keys: Sequence[str],
    like: Table | None = None,
) -> Table:
    """Load a frame into a temporary table for joins; returns it as a `Table` of its own
    `MetaData` (made per call, so that no temporary table is ever part of `schema`).

    A column of `like` (the table the rows are for) gives its type to the staged column of
    the same name, so that `UPDATE ... FROM` the staged rows assigns values of the target's
    types on PostgreSQL."""

    def column_type(column: str) -> Any:
        if like is not None and column in like.c:
            return like.c[column].type
        return _sql_type(frame.schema[column])

    tmp = Table(
        f"tmp_{name}",
        MetaData(),
        *(Column(c, column_type(c)) for c in frame.columns),
        prefixes=["TEMPORARY"],
    )
    conn.execute(DropTable(tmp, if_exists=True))
    conn.execute(CreateTable(tmp))
    if keys:
        conn.execute(CreateIndex(Index(f"ix_{tmp.name}", *(tmp.c[k] for k in keys))))
    if frame.height:
        if is_postgresql(conn):
            _copy_into(conn, tmp.name, frame)
        else:
            _sqlite_executemany(conn, tmp.name, _sqlite_stored(frame))
    return tmp


def _sqlite_executemany(conn: Connection, table_name: str, frame: pl.DataFrame) -> None:
    """The driver's executemany over plain tuples. Core's `insert()` binds a dict per row and
    runs each value through its type: about 3x slower for the bulk loads measured here, and
    Core has no way to hand the driver a list of tuples."""
    column_list = ", ".join(f'"{c}"' for c in frame.columns)
    placeholders = ", ".join("?" for _ in frame.columns)
    conn.exec_driver_sql(
        f'INSERT INTO "{table_name}" ({column_list}) VALUES ({placeholders})',
        list(frame.iter_rows()),
    )


def _sql_type(dtype: pl.DataType) -> Any:
    if dtype.is_integer():
        return BigInteger()
    if dtype.is_float():
        return Double()
    if dtype == pl.Boolean:
        return Boolean()
    if dtype == pl.Date:
        return Date()
    if isinstance(dtype, pl.Datetime):
        return DateTime(timezone=dtype.time_zone is not None)
    return Text()


class _CrossJoin(Join):
    inherit_cache = True


@compiles(_CrossJoin)
def _compile_cross_join(element: _CrossJoin, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    return (
        f"{compiler.process(element.left, **kw)} CROSS JOIN {compiler.process(element.right, **kw)}"
    )


def cross_join(left: FromClause, right: FromClause) -> Join:
    """`left CROSS JOIN right`, the join condition left to the WHERE clause.

    SQLite never reorders the two sides of a CROSS JOIN (its documented way to fix the
    loop order); Core has no CROSS JOIN, and its `join(..., true())` lets SQLite pick the
    order, which for some joins here means scanning every pupil once per class.
    PostgreSQL plans it with the WHERE as an ordinary inner join."""
    return _CrossJoin(left, right, true())


def read_frame(
    conn: Connection,
    query: Executable,
    schema_overrides: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Run a Core query and return its rows as a polars frame (one round trip); the columns
    not in `schema_overrides` take the type polars infers from the rows."""
    result = conn.execute(query)
    columns = list(result.keys())
    rows = result.fetchall()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema=columns,
        orient="row",
        schema_overrides=schema_overrides,
        infer_schema_length=None,
    )


def select_frame(conn: Connection, query: Executable, schema: Mapping[str, Any]) -> pl.DataFrame:
    """A Core query's rows as a frame of `schema` (typed by SQLAlchemy: SQLite's dates and
    timestamps come back as dates and datetimes), in one round trip."""
    rows = conn.execute(query).fetchall()
    return pl.DataFrame([tuple(r) for r in rows], schema=dict(schema), orient="row")


def read_table(conn: Connection, table: Table) -> pl.DataFrame:
    """A whole table as a frame with the table's column types (empty tables keep their schema)."""
    result = conn.execute(table.select())
    rows = result.fetchall()
    pl_schema = {c.name: _polars_type(c) for c in table.columns}
    return pl.DataFrame([tuple(r) for r in rows], schema=pl_schema, orient="row")


def _polars_type(column: Any) -> Any:
    python_type = None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return pl.Object
    import datetime as _dt

    return {
        str: pl.String,
        int: pl.Int64,
        bool: pl.Boolean,
        float: pl.Float64,
        _dt.date: pl.Date,
        _dt.datetime: pl.Datetime("us", "UTC"),
        dict: pl.Object,
    }.get(python_type, pl.String)


def truncate_all(conn: Connection) -> None:
    """Empty every table (tests, and `rentree demo` workspaces)."""
    names = [t.name for t in reversed(schema.metadata.sorted_tables)]
    if is_postgresql(conn):
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names)))
    else:
        for n in names:
            conn.execute(text(f'DELETE FROM "{n}"'))
