"""Reading the inventory files: one per table, Parquet or CSV (`,` or `;`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from rentree.contracts.content import (
    INVENTORY_TABLES,
    REQUIRED_COLUMNS,
    table_columns,
)

_FORMULA_QUOTED = r"^'[=+\-@\t\r]"


class InventoryError(Exception):
    """The inventory cannot be used at all; the message is one sentence for the operator."""


# -- reading the files -------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryFile:
    """One table of the inventory as read: raw values, a 1-based `row`, the schema's columns."""

    table: str
    path: Path
    frame: pl.DataFrame
    provided: tuple[str, ...]
    ignored: tuple[str, ...]


def find_inventory_files(folder: Path) -> dict[str, Path]:
    """The inventory files of a folder, by table, in import order."""
    if not folder.is_dir():
        raise InventoryError(
            f"{folder} is not a folder; give the folder that holds the inventory files "
            "(users.parquet, shares.csv...)."
        )
    found: dict[str, Path] = {}
    for name in INVENTORY_TABLES:
        candidates = [
            p for p in (folder / f"{name}.parquet", folder / f"{name}.csv") if p.is_file()
        ]
        if len(candidates) > 1:
            raise InventoryError(
                f"{folder} holds both {name}.parquet and {name}.csv; keep only one of them."
            )
        if candidates:
            found[name] = candidates[0]
    if not found:
        raise InventoryError(
            f"{folder} holds no inventory file; expected some of "
            f"{', '.join(INVENTORY_TABLES)} as .parquet or .csv files."
        )
    return found


def _read_csv(path: Path) -> pl.DataFrame:
    with path.open("rb") as stream:
        first_line = stream.readline()
    try:
        header = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InventoryError(f"{path} is not UTF-8 text; save it as UTF-8 CSV.") from None
    separator = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pl.read_csv(path, separator=separator, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InventoryError(
            f"{path} cannot be read as CSV ({reason}); save it as UTF-8 CSV, one header line."
        ) from None
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_QUOTED))
        .then(pl.col(c).str.slice(1))
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InventoryError(
            f"{path} cannot be read as Parquet ({type(exc).__name__}); export it again."
        ) from None


def read_inventory_file(name: str, path: Path) -> InventoryFile:
    """Read one table's file and check that it has the columns a row needs."""
    raw = _read_csv(path) if path.suffix == ".csv" else _read_parquet(path)
    schema_columns = table_columns(name)
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in raw.columns]
    if missing:
        raise InventoryError(
            f"{path} lacks the column(s) {', '.join(missing)}; "
            f"{name} needs at least {', '.join(REQUIRED_COLUMNS[name])}."
        )
    provided = tuple(c for c in schema_columns if c in raw.columns)
    nested = [c for c in provided if raw.schema[c].is_nested() or raw.schema[c] == pl.Object]
    if nested:
        raise InventoryError(
            f"{path}: column(s) {', '.join(nested)} hold lists or structures; "
            "write one plain value per cell."
        )
    frame = (
        raw.select(provided)
        .with_row_index("row", offset=1)
        .with_columns(pl.col("row").cast(pl.Int64))
    )
    ignored = tuple(c for c in raw.columns if c not in schema_columns)
    return InventoryFile(table=name, path=path, frame=frame, provided=provided, ignored=ignored)


def read_inventory(folder: Path) -> list[InventoryFile]:
    """Every inventory file of the folder, read and checked before anything is imported."""
    return [read_inventory_file(name, path) for name, path in find_inventory_files(folder).items()]
