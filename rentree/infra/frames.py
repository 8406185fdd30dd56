"""Core queries read into polars frames, in one round trip each."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table
from sqlalchemy.sql.base import Executable

from rentree.infra.arrow_reads import read_arrow


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


# Column types every driver returns as the Python value polars wants, with no SQLAlchemy
# result processing (PostgreSQL's numeric floats need it; text and integers do not).
_PLAIN_TYPES = (pl.String, pl.Int64)
# psycopg returns dates, booleans and timestamps as Python's own; SQLite stores a date as
# the text Core wrote ('YYYY-MM-DD') and a boolean as 0 or 1: polars reads those raw values
# and converts the column at once.
_POSTGRESQL_RAW = (*_PLAIN_TYPES, pl.Date, pl.Boolean)
_SQLITE_STORED: dict[Any, Any] = {pl.Date: pl.String, pl.Boolean: pl.Int64}
# Rows taken from the driver at a time: the Python objects of a whole large read (the
# directory's 1.5 M users, 23 M values) would all live at once before polars copies them.
_BATCH_ROWS = 50_000


def select_frame(
    conn: Connection,
    query: Executable,
    schema: Mapping[str, Any],
    *,
    committed: bool = False,
) -> pl.DataFrame:
    """A Core query's rows as a frame of `schema` (typed by SQLAlchemy: SQLite's dates and
    timestamps come back as dates and datetimes), in one round trip.

    `committed`: the caller's transaction has written none of the rows the query reads (a
    plan before its apply, a report), so that PostgreSQL's may be read as Arrow on a
    connection of their own (`infra.arrow_reads`) when every column is text, an integer, a
    date or a flag."""
    if committed and all(t in _POSTGRESQL_RAW for t in schema.values()):
        arrow = read_arrow(conn, query)
        if arrow is not None:
            return _as_schema(arrow, schema)
    result = conn.execute(query)
    dtypes = list(schema.values())
    if conn.dialect.name == "sqlite" and all(
        t in _PLAIN_TYPES or t in _SQLITE_STORED for t in dtypes
    ):
        # Plain columns are read as the driver's tuples: building a SQLAlchemy row for each
        # costs as much as the read itself over millions of rows (the storage report's, the
        # users a plan reads)
        stored = {name: _SQLITE_STORED.get(t, t) for name, t in schema.items()}
        frame = _batched_frame(result.cursor, stored)
        return frame.with_columns(
            pl.col(name).str.to_date("%Y-%m-%d") if t == pl.Date else pl.col(name).cast(t)
            for name, t in schema.items()
            if t in _SQLITE_STORED
        )
    if conn.dialect.name != "sqlite" and all(t in _POSTGRESQL_RAW for t in dtypes):
        return _batched_frame(result.cursor, schema)
    # SQLAlchemy's rows are sequences: polars reads them as they are
    return _batched_frame(result, schema)


def _batched_frame(rows: Any, schema: Mapping[str, Any]) -> pl.DataFrame:
    """The rows of a driver cursor or a SQLAlchemy result as a frame of `schema`, taken
    `_BATCH_ROWS` at a time."""
    parts = [pl.DataFrame(schema=dict(schema))]
    while batch := rows.fetchmany(_BATCH_ROWS):
        parts.append(pl.DataFrame(batch, schema=dict(schema), orient="row"))
    return pl.concat(parts, rechunk=True) if len(parts) > 2 else parts[-1]


def _as_schema(frame: pl.DataFrame, schema: Mapping[str, Any]) -> pl.DataFrame:
    """The driver's columns, by position, as `schema` (varchar as text, int4 as Int64)."""
    frame = frame.rename(dict(zip(frame.columns, schema, strict=True)))
    return frame.with_columns(pl.col(name).cast(t) for name, t in schema.items())


def read_table(conn: Connection, table: Table) -> pl.DataFrame:
    """A whole table as a frame with the table's column types (empty tables keep their schema)."""
    pl_schema = {c.name: _polars_type(c) for c in table.columns}
    return select_frame(conn, table.select(), pl_schema)


def _polars_type(column: Any) -> Any:
    try:
        python_type = column.type.python_type
    # SQLAlchemy's own signal that a column type (e.g. JSON) names no Python type: not a stub.
    except NotImplementedError:
        return pl.Object
    return {
        str: pl.String,
        int: pl.Int64,
        bool: pl.Boolean,
        float: pl.Float64,
        _dt.date: pl.Date,
        _dt.datetime: pl.Datetime("us", "UTC"),
        dict: pl.Object,
    }.get(python_type, pl.String)
