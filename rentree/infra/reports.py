"""The one writer of reports: CSV for people and Parquet for machines, into the store.

The CSV opens as it should in a French spreadsheet: UTF-8 with a BOM, `;` between cells, a
decimal comma, decimals rounded to what is meaningful (ratios to 3 places, other values to
2), formula-safe text, and beside each `<x>_bytes` column a `<x>_size` column in a human unit
(`1,5 GiB`). The Parquet twin keeps every value exact.
"""

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


_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))
# Float columns whose name says they are a share of something keep three decimals.
_RATIO_WORDS = ("ratio", "use", "share", "rate")


def human_size(column: str) -> pl.Expr:
    """Bytes as a person reads them: `512 B`, `12,3 MiB`, `1,5 GiB` (decimal comma)."""
    size = pl.col(column).cast(pl.Float64)
    shown: pl.Expr = pl.format("{} B", pl.col(column).cast(pl.Int64))
    for unit, factor in reversed(_UNITS):
        scaled = (size / factor).round(1).cast(pl.String).str.replace(".", ",", literal=True)
        shown = (
            pl.when(size.abs() >= factor).then(pl.format(f"{{}} {unit}", scaled)).otherwise(shown)
        )
    return pl.when(pl.col(column).is_null()).then(None).otherwise(shown)


def for_people(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as the CSV shows it: rounded decimals and human sizes next to the bytes."""
    rounded = frame.with_columns(
        pl.col(c).round(3 if any(w in c for w in _RATIO_WORDS) else 2)
        for c, t in frame.schema.items()
        if t.is_float()
    )
    columns: list[pl.Expr] = []
    for name, dtype in rounded.schema.items():
        columns.append(pl.col(name))
        if name.endswith("_bytes") and dtype.is_integer():
            size = name.removesuffix("_bytes") + "_size"
            if size not in rounded.columns:
                columns.append(human_size(name).alias(size))
    return rounded.select(columns)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    neutralise_formulas(_flatten(for_people(frame))).write_csv(
        buffer, separator=";", include_bom=True, decimal_comma=True
    )
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


# What each report file holds, by the start of its name, for the links an operator clicks.
_DESCRIPTIONS = (
    (
        "validation-report",
        "Problems found in the delivery's files: record, attribute, why, whom to contact",
    ),
    ("counts_per_school", "Changes per school in this delivery"),
    ("held_files", "Files set aside (held) and why: frozen year, before the ONDE switch..."),
    ("outcome_", "What became of the delivery, in one paragraph"),
    (
        "who-goes-missing",
        "Everyone this held delivery would mark missing, expected leavers flagged",
    ),
    ("summary.json", "Summary of the change set: counts per kind, missing people, fingerprint"),
    ("pending_attachments", "Teacher attachment requests still pending or refused, and why"),
    ("not_attached", "Teacher attachment requests kept pending or refused, and why"),
    ("attached", "Teacher attachments made"),
    ("late_entries", "Schools whose entry level has not arrived yet (late-entry watch, R12)"),
    ("pre-purge-notice-owners", "Shares the purge will remove, counted per owner"),
    ("pre-purge-notice-schools", "Shares the purge will remove, counted per school"),
    ("pre-purge-notice", "Each share the purge will remove, per school and owner (R6)"),
    ("share-purge-per-school", "Shares the purge removes, per school"),
    ("share-purge-per-app", "Shares the purge removes, per application"),
    ("bookmark_cleanup", "Share bookmark members who left, per owner (R13)"),
    ("storage-users-above-80pc", "Users above 80% of their storage quota"),
    ("storage-top-users-per-school", "The 50 largest users of each school"),
    ("storage-users", "Storage used per user, by app and area, with quota use"),
    ("storage-schools-by-app", "Storage used per school and application"),
    ("storage-schools-by-area", "Chart: storage per school (the 20 largest), by area"),
    ("storage-schools", "Storage used per school, by area"),
    ("storage-region-by-app", "Storage used region-wide, per application"),
    ("storage-region-by-area", "Chart: storage region-wide, by area"),
    ("storage-region", "Storage used region-wide, by area"),
    ("storage-quota-use", "Chart: how full users' quotas are"),
    ("rejects", "Content inventory rows rejected, and why"),
    ("purged_shares", "Inventory shares skipped because a purge removed them"),
    ("counts", "Rows per table: imported, updated, unchanged, rejected"),
)


def describe_report(key: str) -> str:
    """One line saying what the report file at `key` holds (its name when unknown)."""
    name = key.rsplit("/", 1)[-1]
    for start, description in _DESCRIPTIONS:
        if name.startswith(start):
            return description
    return f"Report file {name}"
