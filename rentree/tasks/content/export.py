"""Export of the directory: one file per table of storage.md, Parquet or CSV.

Columns come in storage.md's order (the minimum columns, then the schema's others); rows in
primary-key order compared byte by byte (UTF-8), whatever the database's collation, so
that two exports of the same directory are byte-identical. Tables are read in one query
each, streamed in batches, so a region's millions of shares never sit in memory at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow.parquet as pq
from sqlalchemy import Column, Connection, String, func, select

from rentree.contracts.content import (
    EXPORT_TABLES,
    polars_schema,
    primary_key,
    table,
)
from rentree.infra.db import is_postgresql
from rentree.infra.naming import check_school_year, snapshot_prefix
from rentree.infra.reports import neutralise_formulas
from rentree.infra.storage import ObjectStore

ExportFormat = Literal["parquet", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("parquet", "csv")

# Rows fetched per round trip; Parquet row groups have their own fixed size, so that the
# files are byte-identical whatever the batch.
BATCH_ROWS = 200_000
ROW_GROUP_ROWS = 200_000

# CSV exports follow the reports' conventions (storage.md): UTF-8, `;` as French spreadsheet
# software expects, formula-safe cells; content import reads `,` and `;` alike.
CSV_SEPARATOR = ";"
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
CSV_DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class ExportedTable:
    table: str
    file: str
    rows: int


@dataclass(frozen=True)
class ExportSummary:
    location: str
    format: ExportFormat
    tables: tuple[ExportedTable, ...]

    @property
    def rows(self) -> dict[str, int]:
        return {t.table: t.rows for t in self.tables}


# Secrets never leave the database in an export or a snapshot (operations.md): an activation
# code is handed to its pupil by the school, not copied into files.
SECRET_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("activation_code",)}


def export_schema(name: str) -> dict[str, pl.DataType]:
    """The exported columns of a table and their types: the schema's, less its secrets."""
    hidden = SECRET_COLUMNS.get(name, ())
    return {c: t for c, t in polars_schema(name).items() if c not in hidden}


def export_file_name(name: str, fmt: ExportFormat) -> str:
    return f"{name}.{fmt}"


def _in_byte_order(conn: Connection, column: Column[object]) -> object:
    # PostgreSQL may sort text by a locale; the C collation is plain byte order, as SQLite's.
    if is_postgresql(conn) and isinstance(column.type, String):
        return column.collate("C")
    return column


def table_row_counts(conn: Connection) -> dict[str, int]:
    """The rows of each table of the export, as an export written now would count them."""
    return {
        name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in EXPORT_TABLES
    }


def table_batches(
    conn: Connection, name: str, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """One table in export order, as frames of at most `batch_rows` rows (one query)."""
    tbl = table(name)
    dtypes = export_schema(name)
    statement = select(*(tbl.c[c] for c in dtypes)).order_by(
        *(_in_byte_order(conn, tbl.c[k]) for k in primary_key(name))  # type: ignore[arg-type]
    )
    result = conn.execute(
        statement, execution_options={"stream_results": True, "yield_per": batch_rows}
    )
    for rows in result.partitions():
        yield pl.DataFrame([tuple(r) for r in rows], schema=dtypes, orient="row")


def _row_groups(batches: Iterator[pl.DataFrame], size: int) -> Iterator[pl.DataFrame]:
    """Re-cut batches into groups of exactly `size` rows (the last one shorter), so the
    Parquet layout does not depend on how the rows were fetched."""
    pending: list[pl.DataFrame] = []
    held = 0
    for frame in batches:
        pending.append(frame)
        held += frame.height
        while held >= size:
            merged = pl.concat(pending)
            yield merged.head(size)
            rest = merged.slice(size)
            pending, held = [rest], rest.height
    if held:
        yield pl.concat(pending)


def _write_parquet(
    path: Path, name: str, batches: Iterator[pl.DataFrame], row_group_rows: int
) -> int:
    empty = pl.DataFrame(schema=export_schema(name))
    arrow_schema = empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema
    rows = 0
    with pq.ParquetWriter(path, arrow_schema, compression="zstd") as writer:
        for group in _row_groups(batches, row_group_rows):
            writer.write_table(
                group.to_arrow(compat_level=pl.CompatLevel.oldest()),
                row_group_size=row_group_rows,
            )
            rows += group.height
    return rows


def _write_csv(path: Path, name: str, batches: Iterator[pl.DataFrame]) -> int:
    rows = 0
    with path.open("wb") as out:
        out.write(CSV_SEPARATOR.join(export_schema(name)).encode() + b"\n")
        for frame in batches:
            neutralise_formulas(frame).write_csv(
                out,
                separator=CSV_SEPARATOR,
                include_header=False,
                datetime_format=CSV_DATETIME_FORMAT,
                date_format=CSV_DATE_FORMAT,
            )
            rows += frame.height
    return rows


def write_export(
    conn: Connection,
    folder: Path,
    fmt: ExportFormat = "parquet",
    batch_rows: int = BATCH_ROWS,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ExportSummary:
    """Write every table of storage.md into `folder` (created if needed), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[ExportedTable] = []
    for name in EXPORT_TABLES:
        target = folder / export_file_name(name, fmt)
        partial = target.with_name(f".tmp-{target.name}")
        batches = table_batches(conn, name, batch_rows)
        rows = (
            _write_parquet(partial, name, batches, row_group_rows)
            if fmt == "parquet"
            else _write_csv(partial, name, batches)
        )
        partial.replace(target)
        written.append(ExportedTable(table=name, file=str(target), rows=rows))
    return ExportSummary(location=str(folder), format=fmt, tables=tuple(written))


def write_snapshot(
    conn: Connection,
    store: ObjectStore,
    year: str,
    label: str,
    fmt: ExportFormat = "parquet",
) -> ExportSummary:
    """The export of the directory into the store, under `snapshots/<year>/<label>/`.

    Files are written to a local temporary folder first and uploaded streamed.
    """
    prefix = snapshot_prefix(check_school_year(year), label)
    with tempfile.TemporaryDirectory(prefix="rentree-snapshot-") as tmp:
        local = write_export(conn, Path(tmp), fmt)
        uploaded: list[ExportedTable] = []
        for exported in local.tables:
            key = prefix + Path(exported.file).name
            store.upload(Path(exported.file), key)
            uploaded.append(ExportedTable(table=exported.table, file=key, rows=exported.rows))
    return ExportSummary(location=store.link(prefix), format=fmt, tables=tuple(uploaded))
