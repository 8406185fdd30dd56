"""One inventory table's contract: a Pandera schema built from the database table it fills
(lengths, NOT NULL) and the table's own rules; a broken row becomes `(row, reason)`."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from sqlalchemy import String

from rentree.contracts.content.coercion import coerce
from rentree.contracts.content.rules import RULES, Rule, TableRules
from rentree.contracts.content.tables import (
    NOT_EMPTY,
    concat_problems,
    empty_problems,
    polars_schema,
    table,
    table_columns,
)


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
    return concat_problems(parts)


def check_contract(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Coerce then validate one inventory table: (typed frame, problems)."""
    typed, coercion = coerce(name, frame)
    return typed, pl.concat([coercion, schema_problems(name, typed)])
