"""Temporary tables that hold a frame's rows for a set-based join with the directory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Index,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from rentree.infra.db import load_rows


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
    if frame.height:
        load_rows(conn, tmp.name, frame)
    # the index is built once over the loaded rows (a sort), not maintained row by row
    if keys:
        conn.execute(CreateIndex(Index(f"ix_{tmp.name}", *(tmp.c[k] for k in keys))))
    return tmp


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
