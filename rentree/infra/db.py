"""What SQLAlchemy Core cannot say, in the one module allowed text SQL and driver calls
(each with the reason): SQLite's connection PRAGMAs, the directory's write lock, the bulk
loads (PostgreSQL COPY, SQLite's driver executemany), the planner's statistics and VACUUM,
CROSS JOIN, emptying every table.

Everything else goes through Core: `infra.engine` opens the engine, `infra.migrate` the
schema, `infra.frames` reads queries into frames, `infra.staging` makes temporary tables."""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    Engine,
    Table,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import FromClause, Join

from rentree.infra import schema
from rentree.infra.errors import DatabaseError, describe_database_error

# The engine's execution option that holds how long a SQLite writer waits for another
# (set by `infra.engine.make_engine`).
LOCK_PATIENCE_OPTION = "rentree_lock_patience"


# SQLite's page cache per connection, in KiB (a negative cache_size): the default 2 MB
# makes every row of a bulk insert into an indexed table of millions of rows read and spill
# index pages; 128 MB keeps the indexes a rentrée apply walks in memory (the cache grows
# only as far as a connection uses it).
SQLITE_CACHE_KIB = 131_072


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Each new SQLite connection: WAL (readers never wait for the writer), normal syncs,
    temporary tables in memory, and pages read through a memory map with a page cache of
    `SQLITE_CACHE_KIB` (SQLite's default 2 MB cache makes every read of a joined lookup a
    system call: the share purge's plan spent more time in the kernel than in SQLite).
    PRAGMAs are driver statements Core has no construct for."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def is_postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


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
    patience = float(engine.get_execution_options().get(LOCK_PATIENCE_OPTION, 3600))
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

    PostgreSQL takes the rows through COPY; SQLite through one `executemany`. The rows go in
    primary-key order (when the frame holds the whole key): each lands next to the one
    before in the key's B-tree instead of on a page anywhere in it. With
    `json_text`, the frame's text columns for JSON columns already hold JSON and go in as
    they are (Core's JSON type would encode them a second time).
    """
    if frame.is_empty():
        return 0
    columns = [c for c in frame.columns if c in table.c]
    frame = frame.select(columns)
    key = [c.name for c in table.primary_key.columns]
    if key and set(key) <= set(columns):
        frame = frame.sort(key)
    if is_postgresql(conn):
        _copy_into(conn, table.name, frame)
    elif (sqlite_rows := _sqlite_ready(table, frame, json_text)) is not None:
        with _indexes_built_after(conn, table, frame.height):
            _sqlite_executemany(conn, table.name, sqlite_rows)
    else:
        for start in range(0, frame.height, _SQLITE_SLICE):
            conn.execute(table.insert(), frame.slice(start, _SQLITE_SLICE).to_dicts())
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
                    # polars writes UTF-8 bytes: handed over as they are, not decoded to
                    # a str that psycopg would encode again
                    csv = io.BytesIO()
                    frame.slice(start, _COPY_SLICE).write_csv(csv, include_header=False)
                    copy.write(csv.getbuffer())
            else:
                for row in frame.iter_rows():
                    copy.write_row(row)
    except psycopg.Error as error:
        # COPY bypasses SQLAlchemy's error hook: the same translation as any other statement.
        raise describe_database_error(error, table_name, "postgresql") from None


def load_rows(conn: Connection, table_name: str, frame: pl.DataFrame) -> None:
    """The bulk load of a staging table (`infra.staging`): COPY on PostgreSQL; on SQLite the
    driver's executemany, dates and timestamps stored as Core stores them."""
    if is_postgresql(conn):
        _copy_into(conn, table_name, frame)
    else:
        _sqlite_executemany(conn, table_name, _sqlite_stored(frame))


# A bulk insert into a SQLite table builds the table's secondary indexes again after it
# (a sort each) instead of entering each row in them, when it adds at least this many rows
# and this share of the rows already there: measured on 3.1 M group memberships, -33% into
# an empty table, -15% into a table of 3.3 M, a loss for a few rows into millions.
_REBUILD_MIN_ROWS = 100_000
_REBUILD_SHARE = 0.5


@contextmanager
def _indexes_built_after(conn: Connection, table: Table, rows: int) -> Iterator[None]:
    """Drop the table's secondary indexes for the insert, then create them again, inside
    the caller's transaction (DDL is transactional in SQLite: a failure or a kill rolls
    back to the indexes as they were). Outside a transaction the driver would commit each
    DDL statement on its own: then the rows go in through the indexes."""
    raw = conn.connection.dbapi_connection
    if rows < _REBUILD_MIN_ROWS or not table.indexes or not getattr(raw, "in_transaction", False):
        yield
        return
    existing = conn.execute(select(func.count()).select_from(table)).scalar_one()
    if rows < existing * _REBUILD_SHARE:
        yield
        return
    indexes = sorted(table.indexes, key=lambda index: str(index.name))
    for index in indexes:
        index.drop(conn)
    try:
        yield
    finally:
        for index in indexes:
            index.create(conn)


# Rows handed to SQLite's executemany at a time: the Python tuples of a slice are all alive
# at once, so a slice bounds the memory of a load of millions of rows.
_SQLITE_SLICE = 50_000


def _sqlite_executemany(conn: Connection, table_name: str, frame: pl.DataFrame) -> None:
    """The driver's executemany over plain tuples, a slice at a time. Core's `insert()` binds
    a dict per row and runs each value through its type: about 3x slower for the bulk loads
    measured here, and Core has no way to hand the driver a list of tuples.

    A column holding one value in every row (a run id, a timestamp, a change log's entity)
    goes in the statement once, as a literal Core renders, not bound again on each row:
    the binding is most of the driver's time per row (a change log part with four of its
    seven columns constant loads in two thirds of the time)."""
    constants = _constant_columns(frame)
    varying = [c for c in frame.columns if c not in constants]
    values = [_sqlite_literal(conn, constants[c]) if c in constants else "?" for c in frame.columns]
    column_list = ", ".join(f'"{c}"' for c in frame.columns)
    statement = f'INSERT INTO "{table_name}" ({column_list}) VALUES ({", ".join(values)})'
    rows = frame.select(varying)
    for start in range(0, frame.height, _SQLITE_SLICE):
        part = rows.slice(start, _SQLITE_SLICE)
        tuples = part.rows() if varying else [()] * min(_SQLITE_SLICE, frame.height - start)
        conn.exec_driver_sql(statement, tuples)


def _constant_columns(frame: pl.DataFrame) -> dict[str, Any]:
    """The columns holding the same value (or only nulls) in every row, with that value;
    only values a SQLite literal says exactly (no NaN, no NUL character, no bytes)."""
    if frame.is_empty():
        return {}
    first, last = frame.row(0, named=True), frame.row(-1, named=True)
    candidates = [c for c, value in first.items() if value == last[c] and _literal_safe(value)]
    if not candidates:
        return {}
    # nulls compare equal here, so a column of nulls is a constant NULL
    same = frame.select(
        pl.col(c).eq_missing(pl.col(c).first()).all().alias(c) for c in candidates
    ).row(0, named=True)
    return {c: first[c] for c in candidates if same[c]}


def _literal_safe(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, int):
        # what SQLite stores as an integer: a larger literal would turn into a REAL
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and "\x00" not in value


def _sqlite_literal(conn: Connection, value: Any) -> str:
    return str(literal(value).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


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


# a Delta's few rows leave the planner's picture of a table right; a first import does not
STATISTICS_ROWS = 10_000


def refresh_statistics(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: `ANALYZE` tables just bulk-written inside the caller's transaction.

    Autovacuum only sees committed rows, so without this the statements later in the same
    transaction (a delivery's attachments and late-entry watch) are planned as if those
    tables were still as small as before: a nested loop over millions of rows (a region's
    first family import stalled on it). `ANALYZE` has no Core construct. SQLite keeps no
    statistics here (no `ANALYZE` is ever run), so its plans do not move with the sizes."""
    if not tables or not is_postgresql(conn):
        return
    conn.execute(text("ANALYZE " + ", ".join(f'"{t.name}"' for t in tables)))


def vacuum_after_bulk_write(engine: Engine, tables: list[str]) -> None:
    """PostgreSQL: `ANALYZE` and `VACUUM` tables a committed import just wrote in bulk.

    Until a table's visibility map is set (autovacuum, minutes later), an index-only scan
    still visits the table for every row: the storage report right after a region's content
    import read 3 M resources' rows instead of their covering index (16 s instead of 10 s).
    VACUUM runs outside any transaction, so on its own autocommit connection; it has no Core
    construct. SQLite has no visibility map: nothing to do.

    VACUUM marks a page only once the commit of its rows is on disk, which an asynchronous
    commit (`synchronous_commit = off`, of the import or of any transaction since whose id
    shares its commit log group) leaves for the WAL writer: the ANALYZE first, committed
    synchronously, flushes the WAL up to now."""
    if not tables or engine.dialect.name != "postgresql":
        return
    names = ", ".join(f'"{name}"' for name in tables)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET synchronous_commit = on"))
        conn.execute(text(f"ANALYZE {names}"))
        conn.execute(text(f"VACUUM {names}"))
        conn.execute(text("RESET synchronous_commit"))


def truncate_all(conn: Connection) -> None:
    """Empty every table (tests, and `rentree demo` workspaces)."""
    names = [t.name for t in reversed(schema.metadata.sorted_tables)]
    if is_postgresql(conn):
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names)))
    else:
        for n in names:
            conn.execute(text(f'DELETE FROM "{n}"'))
