"""Frames typed as the directory's own tables, for the builders that insert rows by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from rentree.contracts.content import polars_dtype
from rentree.infra import schema


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
    typed = schema.metadata.tables[table].c
    frame_schema = {name: polars_dtype(typed[name].type) for name in columns}
    orient = "row" if rows and not isinstance(rows[0], Mapping) else None
    return pl.DataFrame(rows, schema=frame_schema, orient=orient)
