"""Large reads of committed rows as Arrow (ADBC) on PostgreSQL, on a connection of their own.

psycopg hands over one Python object per value: for the whole directory a plan compares
against (millions of rows), building those objects costs more client time than the server
spends on the query, and they all live at once before polars copies them. Apache Arrow's
PostgreSQL driver (`adbc-driver-postgresql`) reads the rows through COPY in binary into
Arrow columns instead. It runs on its own connection, outside the caller's transaction: only
rows already committed are seen, so the caller must not have written the tables it reads (a
plan before its apply, a report). `read_arrow` returns None where it cannot serve the query
(another database, a query Core cannot render with its values inline, a driver error);
`select_frame` then reads through the caller's connection as usual.

SQLite is left to its DB-API driver on purpose: an ADBC (or connectorx) SQLite driver links a
second copy of the SQLite library into the process, and two copies break each other's POSIX
locks on the same file (closing one copy's file releases the other's locks; SQLite's "How To
Corrupt" 2.2.1): a read through one of them deleted the other connection's WAL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.exc import CompileError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

_LOG = logging.getLogger(__name__)
# conn.info's key for the ADBC connection `arrow_connection` opened for the reads made in
# its block (opening one costs about 50 ms, a plan makes a dozen reads)
_SHARED = "rentree.arrow_connection"


@contextmanager
def arrow_connection(conn: Connection) -> Iterator[None]:
    """Inside the block, the Arrow reads made on `conn` share one ADBC connection (opened on
    the first of them, closed at the end)."""
    if _SHARED in conn.info:
        yield
        return
    conn.info[_SHARED] = None
    try:
        yield
    finally:
        shared = conn.info.pop(_SHARED, None)
        if shared is not None:
            shared.close()


def read_arrow(conn: Connection, query: Executable) -> pl.DataFrame | None:
    """The query's rows as a frame read by ADBC (columns as the driver typed them), or None."""
    url = conn.engine.url
    if url.get_backend_name() != "postgresql" or not isinstance(query, ClauseElement):
        return None
    # rendered with its values inline for a dialect of PostgreSQL's own quoting: psycopg's
    # (pyformat) doubles every % of a literal for its parameters, and libpq would take the
    # doubled sign as it is
    inline = postgresql.dialect(paramstyle="qmark")
    try:
        sql = str(query.compile(dialect=inline, compile_kwargs={"literal_binds": True}))
    except CompileError:
        return None
    try:
        adbc = conn.info.get(_SHARED) or _connect(url)
        try:
            with adbc.cursor() as cursor:
                cursor.execute(sql)
                frame = pl.from_arrow(cursor.fetch_arrow_table())
        finally:
            if _SHARED in conn.info:
                conn.info[_SHARED] = adbc
            else:
                adbc.close()
    except Exception as exc:
        # any driver failure: the DB-API path reads instead; said by its type only (a
        # driver's text may quote a value)
        _LOG.debug("ADBC read not used (%s); reading through the connection", type(exc).__name__)
        return None
    assert isinstance(frame, pl.DataFrame)
    return frame


def _connect(url: URL) -> Any:
    import adbc_driver_postgresql.dbapi

    # libpq's own URI: the same host, user, password, database and options as psycopg's
    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # each read sees what is committed when it starts; no transaction is left open between
    return adbc_driver_postgresql.dbapi.connect(uri, autocommit=True)
