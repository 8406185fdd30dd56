"""Frames typed as the directory's own tables, for the builders that insert rows by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine

from rentree.contracts.content import polars_dtype
from rentree.infra import schema
from rentree.infra.db import insert_frame


def _typed(table: str, columns: Iterable[str]) -> dict[str, pl.DataType]:
    """The polars types the product reads and writes these columns of `table` as."""
    typed = schema.metadata.tables[table].c
    return {name: polars_dtype(typed[name].type) for name in columns}


def table_frame(
    table: str,
    rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]],
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """`rows` (mappings, or tuples in the order of `columns`) as a frame whose columns have the
    polars types the product reads and writes that table's columns as; `columns` defaults to
    the first mapping's keys (name them when there may be no row)."""
    if columns is None:
        first = rows[0]
        assert isinstance(first, Mapping), "tuple rows need their column names"
        columns = list(first)
    orient = "row" if rows and not isinstance(rows[0], Mapping) else None
    return pl.DataFrame(rows, schema=_typed(table, columns), orient=orient)


def insert_tables(engine: Engine, **tables: Mapping[str, Sequence[Any]]) -> None:
    """Each named table's rows, given column by column (typed as the table's columns),
    inserted in the order the tables are named, in one transaction."""
    with engine.begin() as conn:
        for name, columns in tables.items():
            frame = pl.DataFrame(dict(columns), schema=_typed(name, columns))
            insert_frame(conn, schema.metadata.tables[name], frame)
