"""Contracts of the directory's tables as files: exports and the content inventory.

storage.md fixes the minimum columns of each table; the rest of the schema's columns follow
them. The content inventory ("inventaire des productions et partages") is read with these
contracts: every value is coerced to the schema's type, then checked by a Pandera schema
built from the table itself, so the limits of the database (lengths, NOT NULL) and the
domain's closed lists are checked in one place. A broken row becomes a problem `(row,
reason)` with one sentence; the rest of the file goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, String, Table

from rentree.infra import schema

EXPORT_TABLES: tuple[str, ...] = (
    "structures",
    "classes",
    "users",
    "user_structures",
    "user_classes",
    "relations",
    "groups",
    "group_members",
    "bookmarks",
    "bookmark_members",
    "resources",
    "shares",
)

# The order matters: a row may name what an earlier table of the same inventory brings.
INVENTORY_TABLES: tuple[str, ...] = (
    "users",
    "user_structures",
    "groups",
    "group_members",
    "bookmarks",
    "bookmark_members",
    "resources",
    "shares",
)

MINIMUM_COLUMNS: dict[str, tuple[str, ...]] = {
    "structures": ("external_id", "uai", "name", "type"),
    "classes": ("external_id", "structure_uai", "school_year", "code", "label", "levels"),
    "users": (
        "external_id",
        "profile",
        "source",
        "identity",
        "login",
        "ine",
        "first_name",
        "last_name",
        "missing_since",
    ),
    "user_structures": ("user_external_id", "structure_uai", "source"),
    "user_classes": ("user_external_id", "class_external_id", "school_year", "source"),
    "relations": ("student_external_id", "relative_external_id"),
    "groups": (
        "group_id",
        "kind",
        "school_year",
        "structure_uai",
        "class_external_id",
        "audience",
        "name",
        "owner_external_id",
    ),
    "group_members": ("group_id", "user_external_id"),
    "bookmarks": ("bookmark_id", "owner_external_id", "name"),
    "bookmark_members": ("bookmark_id", "member_kind", "member_id"),
    "resources": ("resource_id", "owner_external_id", "app", "area", "size_bytes", "created_at"),
    "shares": ("resource_id", "recipient_kind", "recipient_id", "rights"),
}

# Columns an inventory file must have; the other minimum columns may be left out (empty).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("external_id", "profile", "source", "identity", "login"),
    "user_structures": ("user_external_id", "structure_uai", "source"),
    "groups": ("group_id", "kind", "name", "owner_external_id"),
    "group_members": ("group_id", "user_external_id"),
    "bookmarks": ("bookmark_id", "owner_external_id", "name"),
    "bookmark_members": ("bookmark_id", "member_kind", "member_id"),
    "resources": ("resource_id", "owner_external_id", "app", "area", "size_bytes"),
    "shares": ("resource_id", "recipient_kind", "recipient_id", "rights"),
}

# Values a NOT NULL column takes when the inventory leaves it out or empty.
DEFAULTS: dict[str, dict[str, object]] = {
    "users": {"first_name": "", "last_name": "", "activation_state": "none"},
    "user_structures": {"director": False},
}

# Columns the database leaves nullable for the feeds' rows but an inventory row must fill.
NOT_EMPTY: dict[str, dict[str, str]] = {
    "groups": {"owner_external_id": "owner_external_id is empty; a manual group has an owner"},
}

MESSAGING_AREAS = ("inbox", "sent", "trash")
DOCUMENT_AREAS = ("own", "apps", "trash")
OTHER_APP_AREAS = ("own",)
RIGHTS = ("read", "contrib", "manage")
RECIPIENT_KINDS = ("user", "group", "bookmark")
MEMBER_KINDS = ("user", "group")

PROBLEMS_SCHEMA: dict[str, pl.DataType] = {"row": pl.Int64(), "reason": pl.String()}
UTC_DATETIME = pl.Datetime("us", "UTC")


def table(name: str) -> Table:
    return schema.metadata.tables[name]


def table_columns(name: str) -> list[str]:
    """storage.md's minimum columns in their order, then the schema's other columns."""
    minimum = list(MINIMUM_COLUMNS[name])
    return minimum + [c.name for c in table(name).columns if c.name not in minimum]


def primary_key(name: str) -> list[str]:
    return [c.name for c in table(name).primary_key.columns]


def polars_dtype(column_type: object) -> pl.DataType:
    """The polars type a schema column is read and written as (datetimes in UTC)."""
    if isinstance(column_type, Boolean):
        return pl.Boolean()
    if isinstance(column_type, BigInteger | Integer):
        return pl.Int64()
    if isinstance(column_type, DateTime):
        return UTC_DATETIME
    if isinstance(column_type, Date):
        return pl.Date()
    return pl.String()


def polars_schema(name: str) -> dict[str, pl.DataType]:
    tbl = table(name)
    return {c: polars_dtype(tbl.c[c].type) for c in table_columns(name)}


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEMS_SCHEMA)


# -- coercion: whatever the file holds, to the schema's types ----------------------------------

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
    return typed_frame, _concat_problems(problems)


def _concat_problems(parts: list[pl.DataFrame]) -> pl.DataFrame:
    parts = [p.cast(PROBLEMS_SCHEMA) for p in parts if p.height]  # type: ignore[arg-type]
    return pl.concat(parts) if parts else empty_problems()


# -- rules: Pandera checks with the sentence a rejected row gets -------------------------------


@dataclass(frozen=True)
class Rule:
    """A Pandera check and the reason a failing row is given (pl.format template + columns)."""

    check: pa.Check
    template: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableRules:
    columns: dict[str, list[Rule]] = field(default_factory=dict)
    rows: list[Rule] = field(default_factory=list)


def _area_fits_app(data: pa.PolarsData) -> pl.LazyFrame:
    app, area = pl.col("app"), pl.col("area")
    return data.lazyframe.select(
        pl.when(app.is_null() | area.is_null())
        .then(True)
        .when(app == "messaging")
        .then(area.is_in(MESSAGING_AREAS))
        .when(app == "documents")
        .then(area.is_in(DOCUMENT_AREAS))
        .otherwise(area.is_in(OTHER_APP_AREAS))
    )


def _manual_group_has_no_year(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        (pl.col("kind") != "manual")
        | (pl.col("school_year").is_null() & pl.col("audience").is_null())
    )


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


RULES: dict[str, TableRules] = {
    "users": TableRules(
        columns={
            "profile": [
                Rule(
                    pa.Check.isin(["Guest"]),
                    "profile {} accounts come from the academic feeds; "
                    "the inventory only adds Guest accounts",
                    ("profile",),
                )
            ],
            "source": [
                Rule(
                    pa.Check.isin(["manual"]),
                    "source {} is not manual; an inventory account is always manual",
                    ("source",),
                )
            ],
            "identity": [
                Rule(
                    pa.Check.isin(["local"]),
                    "identity {} is not local; a Guest account logs in with a local login",
                    ("identity",),
                )
            ],
        },
    ),
    "user_structures": TableRules(
        columns={
            "source": [
                Rule(
                    pa.Check.isin(["manual"]),
                    "source {} is not manual; links of source feed come from the feeds",
                    ("source",),
                )
            ],
        },
    ),
    "groups": TableRules(
        columns={
            "kind": [
                Rule(
                    pa.Check.isin(["manual"]),
                    "kind {} cannot be imported: scolarité groups are made by rentree "
                    "from the feeds, the inventory only brings manual groups",
                    ("kind",),
                )
            ],
        },
        rows=[
            Rule(
                pa.Check(_manual_group_has_no_year, name="manual_group_has_no_year"),
                "a manual group belongs to its owner, not to a school year or an audience; "
                "leave school_year and audience empty",
            )
        ],
    ),
    "bookmark_members": TableRules(
        columns={
            "member_kind": [
                Rule(
                    pa.Check.isin(list(MEMBER_KINDS)),
                    "member_kind {} is not one of " + _one_of(MEMBER_KINDS),
                    ("member_kind",),
                )
            ],
        },
    ),
    "resources": TableRules(
        columns={
            "size_bytes": [
                Rule(pa.Check.ge(0), "size_bytes {} is negative", ("size_bytes",)),
            ],
        },
        rows=[
            Rule(
                pa.Check(_area_fits_app, name="area_fits_app"),
                "area {} does not exist in app {} (messaging: "
                + _one_of(MESSAGING_AREAS)
                + "; documents: "
                + _one_of(DOCUMENT_AREAS)
                + "; other apps: "
                + _one_of(OTHER_APP_AREAS)
                + ")",
                ("area", "app"),
            )
        ],
    ),
    "shares": TableRules(
        columns={
            "recipient_kind": [
                Rule(
                    pa.Check.isin(list(RECIPIENT_KINDS)),
                    "recipient_kind {} is not one of " + _one_of(RECIPIENT_KINDS),
                    ("recipient_kind",),
                )
            ],
            "rights": [
                Rule(
                    pa.Check.isin(list(RIGHTS)),
                    "rights {} is not one of " + _one_of(RIGHTS),
                    ("rights",),
                )
            ],
        },
    ),
}


def _column_rules(name: str) -> dict[str, list[Rule]]:
    """The table's own rules, after the database's length limit of every text column."""
    tbl = table(name)
    own = RULES.get(name, TableRules()).columns
    rules: dict[str, list[Rule]] = {}
    for column in table_columns(name):
        length = getattr(tbl.c[column].type, "length", None)
        limit = (
            [
                Rule(
                    pa.Check.str_length(max_value=length),
                    f"{column} is longer than {length} characters",
                )
            ]
            if isinstance(tbl.c[column].type, String) and length
            else []
        )
        rules[column] = limit + own.get(column, [])
    return rules


def pandera_schema(name: str) -> pa.DataFrameSchema:
    """The inventory contract of one table, built from the database table it fills."""
    tbl = table(name)
    dtypes = polars_schema(name)
    column_rules = _column_rules(name)
    return pa.DataFrameSchema(
        {
            column: pa.Column(
                dtypes[column],
                [r.check for r in column_rules[column]],
                nullable=bool(tbl.c[column].nullable)
                and not tbl.c[column].primary_key
                and column not in NOT_EMPTY.get(name, {}),
            )
            for column in table_columns(name)
        },
        checks=[r.check for r in RULES.get(name, TableRules()).rows],
        strict=False,
        name=name,
    )


def schema_problems(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of a coerced frame that break the contract, each with its reason."""
    try:
        pandera_schema(name).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return empty_problems()
    failures = failures.filter(pl.col("index").is_not_null()).with_columns(
        pl.col("index").cast(pl.Int64)
    )
    indexed = frame.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    column_rules = _column_rules(name)
    row_rules = RULES.get(name, TableRules()).rows
    parts: list[pl.DataFrame] = []
    for (column, check, number), cases in failures.group_by(
        ["column", "check", "check_number"], maintain_order=True
    ):
        rows = indexed.join(cases.select("index").unique(), on="index", how="semi")
        if check == "not_nullable":
            reason = pl.lit(NOT_EMPTY.get(name, {}).get(str(column), f"{column} is empty"))
        else:
            rule = (
                column_rules[str(column)][int(number)]
                if column is not None and column in column_rules
                else next(r for r in row_rules if r.check.name == check)
            )
            reason = (
                pl.format(rule.template, *(pl.col(a) for a in rule.arguments))
                if rule.arguments
                else pl.lit(rule.template)
            )
        parts.append(rows.select("row", reason.alias("reason")))
    return _concat_problems(parts)


def check_contract(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Coerce then validate one inventory table: (typed frame, problems)."""
    typed, coercion = coerce(name, frame)
    return typed, pl.concat([coercion, schema_problems(name, typed)])
