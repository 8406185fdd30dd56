"""The one writer of reports: CSV (UTF-8, `;`, formula-safe) and Parquet, into the store."""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl

from rentree.infra.naming import is_write_once
from rentree.infra.storage import ObjectStore, write_once

# A cell starting with one of these would be run by a spreadsheet (storage.md).
_FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix a quote to every text cell a spreadsheet would read as a formula."""
    text_columns = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text_columns
    )


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no nested values: lists become `|`-joined text."""
    return frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join("|").alias(c)
        for c, t in frame.schema.items()
        if isinstance(t, pl.List)
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    neutralise_formulas(_flatten(frame)).write_csv(buffer, separator=";")
    return buffer.getvalue()


@dataclass(frozen=True)
class WrittenReport:
    name: str
    csv_key: str
    parquet_key: str
    rows: int


def write_report(store: ObjectStore, prefix: str, name: str, frame: pl.DataFrame) -> WrittenReport:
    """Write `<prefix><name>.csv` and `<prefix><name>.parquet`; returns where they are.

    Under a write-once root (a quarantine's report) an earlier report of that name stays:
    this one goes beside it, both files named after the CSV's hash, and the same report
    written again (a re-run) lands on itself."""
    csv_key = write_once(store, f"{prefix}{name}.csv", csv_bytes(frame))
    parquet_key = csv_key.removesuffix(".csv") + ".parquet"
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    # under a write-once root, a Parquet twin there was written with this very CSV before
    if not (is_write_once(parquet_key) and store.exists(parquet_key)):
        store.write_bytes(parquet_key, buffer.getvalue())
    return WrittenReport(name=name, csv_key=csv_key, parquet_key=parquet_key, rows=frame.height)


def write_text(store: ObjectStore, prefix: str, name: str, content: str | bytes) -> str:
    """A non-tabular report file (markdown summary, PNG chart); returns its key."""
    data = content.encode() if isinstance(content, str) else content
    return write_once(store, f"{prefix}{name}", data)
