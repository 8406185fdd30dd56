"""Coercion: whatever an inventory file holds, to the schema's types, with a problem for
every value that does not fit."""

from __future__ import annotations

import polars as pl

from rentree.contracts.content.tables import (
    DEFAULTS,
    UTC_DATETIME,
    concat_problems,
    polars_schema,
)

_TRUE = ("true", "1", "yes", "oui", "t", "y")
_FALSE = ("false", "0", "no", "non", "f", "n")


def _coerce_column(series: pl.Series, target: pl.DataType) -> tuple[pl.Series, str]:
    """The series in the target type, and what a value that does not fit should have been."""
    source = series.dtype
    if target == pl.String:
        text = series.cast(pl.String)
        return text.replace("", None), "text"
    if source == pl.String:
        text = series.str.strip_chars().replace("", None)
        if target == pl.Int64:
            return text.cast(pl.Int64, strict=False), "a whole number"
        if target == pl.Boolean:
            lower = text.str.to_lowercase()
            return (
                pl.select(
                    pl.when(lower.is_in(_TRUE))
                    .then(True)
                    .when(lower.is_in(_FALSE))
                    .then(False)
                    .otherwise(None)
                ).to_series(),
                "true or false",
            )
        if target == pl.Date:
            return text.str.to_date("%Y-%m-%d", strict=False), "an ISO date (YYYY-MM-DD)"
        return _parse_datetime(text), "an ISO 8601 date-time"
    if target == pl.Date and isinstance(source, pl.Datetime):
        return series.dt.date(), "an ISO date (YYYY-MM-DD)"
    if target == UTC_DATETIME:
        if isinstance(source, pl.Datetime):
            aware = (
                series.dt.replace_time_zone("UTC")
                if source.time_zone is None
                else series.dt.convert_time_zone("UTC")
            )
            return aware.cast(UTC_DATETIME), "an ISO 8601 date-time"
        if source == pl.Date:
            return series.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"), "a date-time"
    return series.cast(target, strict=False), f"of type {target}"


def _parse_datetime(text: pl.Series) -> pl.Series:
    """ISO 8601 text to UTC: with an offset or `Z`, or without one (then read as UTC)."""
    normalised = text.str.replace(r"Z$", "+00:00").str.replace(r"^(\S{10}) ", "${1}T")
    with_offset = normalised.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us"
    ).dt.convert_time_zone("UTC")
    naive = normalised.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"
    ).dt.replace_time_zone("UTC")
    day = (
        normalised.str.to_date("%Y-%m-%d", strict=False)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )
    return pl.select(pl.coalesce(with_offset, naive, day)).to_series()


def coerce(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every schema column in its type (absent ones empty, NOT NULL ones defaulted), plus
    the problems of values that do not fit their type. `frame` must carry a `row` column."""
    target = polars_schema(name)
    columns: list[pl.Series] = [frame["row"]]
    problems: list[pl.DataFrame] = []
    for column, dtype in target.items():
        if column not in frame.columns:
            columns.append(pl.Series(column, [None] * frame.height, dtype=dtype))
            continue
        raw = frame[column]
        typed, expected = _coerce_column(raw, dtype)
        typed = typed.alias(column)
        lost = raw.is_not_null() & typed.is_null()
        if raw.dtype == pl.String:
            lost = lost & (raw.str.strip_chars() != "")
        if lost.any():
            problems.append(
                frame.filter(lost).select(
                    "row",
                    pl.format(
                        "{} {} is not {}",
                        pl.lit(column),
                        pl.col(column).cast(pl.String).str.slice(0, 60),
                        pl.lit(expected),
                    ).alias("reason"),
                )
            )
        columns.append(typed)
    typed_frame = pl.DataFrame(columns)
    defaults = DEFAULTS.get(name, {})
    typed_frame = typed_frame.with_columns(
        pl.col(c).fill_null(pl.lit(v, dtype=target[c])) for c, v in defaults.items()
    )
    return typed_frame, concat_problems(problems)
