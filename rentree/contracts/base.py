"""What every feed contract shares: the common columns, the check factories, and the run.

A check is a Pandera column check that returns, per record, whether the rule holds. A
rule only applies where feeds.md says it does: to every `add` record, to a `modify`
record only when the attribute is among the replaced ones, never to a `delete` record
beyond its id. Checks are polars expressions: no Python runs per record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import pandera.errors
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from rentree.contracts.rules import Severity
from rentree.infra.aaf import ATTRIBUTES, CATEGORY_ATTRIBUTE
from rentree.infra.naming import FeedType, rentree_day

VALUE_PREVIEW = 80
ID_ATTRIBUTE = "identifier/id"
_ALWAYS = {"external_id", "category"}
# Derived columns are reported under the attribute they come from.
_DERIVED_SOURCE = {
    "function_struct_ids": "functions",
    "function_codes": "functions",
    "class_struct_ids": "classes",
    "class_codes": "classes",
    "class_labels": "classes",
}


def attribute_of(file_type: FeedType, column: str) -> str:
    """The AAF attribute a column comes from (what a report shows)."""
    if column == "external_id":
        return ID_ATTRIBUTE
    if column == "category":
        return CATEGORY_ATTRIBUTE
    column = _DERIVED_SOURCE.get(column, column)
    for attribute in ATTRIBUTES[file_type]:
        if attribute.column == column:
            return attribute.aaf
    return column


def applies(file_type: FeedType | None, column: str) -> pl.Expr:
    """Where a rule on this column applies: add records, and modify records replacing it.

    The id and the category are checked on every record (file_type None).
    """
    if column in _ALWAYS or file_type is None:
        return pl.lit(True)
    operation = pl.col("operation")
    return (operation == "add") | (
        (operation == "modify")
        & pl.col("modified").list.contains(attribute_of(file_type, column)).fill_null(False)
    )


def present(column: str, is_list: bool = False) -> pl.Expr:
    return pl.col(column).list.len() > 0 if is_list else pl.col(column).is_not_null()


# In a check shared by several feed types' models: the feed type of the model validating,
# which each of them names in its `Config.name`.
OWN_TYPE: Final = "own"
CheckType = FeedType | Literal["own"] | None


def rule_check(file_type: CheckType, column: str, rule: str, passes: Callable[[], pl.Expr]) -> Any:
    """A Pandera check named after its rule; a null result (absent value) passes."""

    def check(cls: Any, data: PolarsData) -> pl.LazyFrame:
        own = cls.__config__.name if file_type == OWN_TYPE else file_type
        holds = ~applies(own, column) | passes().fill_null(True)
        return data.lazyframe.select(holds.fill_null(True).alias(column))

    check.__doc__ = rule
    check.__name__ = rule
    return pa.check(column, name=rule)(check)


def required(file_type: CheckType, column: str, is_list: bool = False) -> Any:
    return rule_check(file_type, column, "required", lambda: present(column, is_list))


def matches(
    file_type: FeedType, column: str, rule: str, pattern: str, is_list: bool = False
) -> Any:
    def passes() -> pl.Expr:
        if is_list:
            return pl.col(column).list.eval(pl.element().str.contains(pattern)).list.all()
        return pl.col(column).str.contains(pattern)

    return rule_check(file_type, column, rule, passes)


def one_of(file_type: FeedType, column: str, rule: str, allowed: tuple[str, ...]) -> Any:
    return rule_check(file_type, column, rule, lambda: pl.col(column).is_in(allowed))


def at_most(file_type: CheckType, column: str, chars: int, is_list: bool = False) -> Any:
    def passes() -> pl.Expr:
        if is_list:
            return pl.col(column).list.eval(pl.element().str.len_chars() <= chars).list.all()
        return pl.col(column).str.len_chars() <= chars

    return rule_check(file_type, column, "too_long", passes)


DATE_PATTERN = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"


def parsed_date(column: str) -> pl.Expr:
    """A dd/mm/yyyy value as a Date; null when it is not a real date."""
    value = pl.col(column)
    return (
        pl.when(value.str.contains(DATE_PATTERN))
        .then(value.str.strptime(pl.Date, "%d/%m/%Y", strict=False))
        .otherwise(None)
    )


def real_date(file_type: FeedType, column: str) -> Any:
    return rule_check(
        file_type,
        column,
        "real_date",
        lambda: pl.col(column).is_null() | parsed_date(column).is_not_null(),
    )


class RecordContract(pa.DataFrameModel):
    """The columns every parsed AAF frame has (docs/internals.md)."""

    file: str
    position: int
    line: int = pa.Field(nullable=True)
    operation: str = pa.Field(isin=["add", "modify", "delete"])
    category: str = pa.Field(nullable=True)
    external_id: str = pa.Field(nullable=True)
    modified: list[str]
    extra: str

    id_required = required(None, "external_id")
    id_too_long = at_most(None, "external_id", 64)
    category_required = required(None, "category")

    class Config:
        strict = False
        coerce = False


class PersonContract(RecordContract):
    """What the person feeds (staff, pupils, relatives) share: the names (ENTPersonNom,
    ENTPersonPrenom), required and at most 200 characters. Each model names its feed type
    in `Config.name`, so that a modify record is checked on a name only where it replaces it."""

    last_name: str = pa.Field(nullable=True)
    first_name: str = pa.Field(nullable=True)

    last_name_required = required(OWN_TYPE, "last_name")
    last_name_too_long = at_most(OWN_TYPE, "last_name", 200)
    first_name_required = required(OWN_TYPE, "first_name")
    first_name_too_long = at_most(OWN_TYPE, "first_name", 200)


@dataclass(frozen=True)
class FeedContract:
    """A feed type's model, which of its columns are required, and how to type its frame."""

    file_type: FeedType
    model: type[RecordContract]
    required_columns: frozenset[str]
    typed: Callable[[pl.DataFrame], pl.DataFrame]
    # rules that only drop values even on a required column (the typing step drops them)
    warning_rules: frozenset[str] = frozenset()
    # columns computed for the checks, dropped from the typed frame
    helpers: ClassVar[tuple[str, ...]] = ("rentree_day",)

    def severity(self, column: str, rule: str) -> Severity:
        if rule in self.warning_rules:
            return "warning"
        return "record" if column in self.required_columns or rule == "required" else "warning"


FAILURE_SCHEMA: dict[str, Any] = {
    "file": pl.String,
    "file_type": pl.String,
    "position": pl.Int64,
    "line": pl.Int64,
    "record_id": pl.String,
    "name": pl.String,
    "column": pl.String,
    "attribute": pl.String,
    "rule": pl.String,
    "value": pl.String,
    "severity": pl.String,
}


@dataclass(frozen=True)
class ContractResult:
    """The valid records, typed, and one failure row per problem found."""

    valid: pl.DataFrame
    failures: pl.DataFrame


def preview(value: pl.Expr) -> pl.Expr:
    """An offending value cut to a readable length (a 10 MB value stays out of reports)."""
    return (
        pl.when(value.str.len_chars() > VALUE_PREVIEW)
        .then(value.str.slice(0, VALUE_PREVIEW) + pl.lit("…"))
        .otherwise(value)
    )


def display_name(frame: pl.DataFrame) -> pl.Expr:
    """Who the record is, for a human reading the report."""
    if "last_name" in frame.columns:
        name = pl.concat_str(
            [pl.col("last_name"), pl.col("first_name")], separator=" ", ignore_nulls=True
        )
    elif "name" in frame.columns:
        name = pl.col("name")
    else:
        name = pl.lit(None, pl.String)
    return preview(pl.when(name == "").then(None).otherwise(name))


def as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if isinstance(dtype, pl.List):
        return pl.col(column).list.join(" | ")
    return pl.col(column).cast(pl.String)


def failures_at(
    frame: pl.DataFrame,
    file_type: FeedType,
    index: pl.Series,
    column: str,
    rule: str,
    severity: Severity,
    value: pl.Expr | None = None,
) -> pl.DataFrame:
    """Failure rows for records at these row indexes of a frame, about one column.

    `value` shows the offending part when it is not the whole column (unknown ids).
    """
    rows = frame[index].select(
        "file",
        pl.lit(file_type).alias("file_type"),
        "position",
        "line",
        pl.col("external_id").alias("record_id"),
        display_name(frame).alias("name"),
        pl.lit(column).alias("column"),
        pl.lit(attribute_of(file_type, column)).alias("attribute"),
        pl.lit(rule).alias("rule"),
        preview(as_text(frame, column) if value is None else value).alias("value"),
        pl.lit(severity).alias("severity"),
    )
    return rows.cast(FAILURE_SCHEMA)  # type: ignore[arg-type]


def empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema=FAILURE_SCHEMA)


def run_contract(contract: FeedContract, records: pl.DataFrame, school_year: str) -> ContractResult:
    """Validate lazily (every problem at once), drop rejected records, null warned values."""
    frame = records.with_columns(pl.lit(rentree_day(school_year)).alias("rentree_day"))
    try:
        contract.model.validate(frame, lazy=True)
        cases = None
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    failures = _failures(contract, frame, cases)
    rejected = failures.filter(pl.col("severity") == "record")["position"].unique()
    kept = frame.filter(~pl.col("position").is_in(rejected.implode()))
    kept = _drop_warned_values(kept, failures.filter(pl.col("severity") == "warning"))
    typed = contract.typed(kept).drop(list(contract.helpers), strict=False)
    return ContractResult(valid=typed, failures=failures)


def _failures(
    contract: FeedContract, frame: pl.DataFrame, cases: pl.DataFrame | None
) -> pl.DataFrame:
    if cases is None or cases.is_empty():
        return empty_failures()
    broken = cases.filter(pl.col("index").is_null())
    if not broken.is_empty():
        # the reader always builds every column with its type: this is a bug, not bad input
        raise RuntimeError(
            f"the {contract.file_type} frame does not have the parsed shape: {broken}"
        )
    parts = [
        failures_at(
            frame,
            contract.file_type,
            group["index"].cast(pl.Int64),
            column,
            rule,
            contract.severity(column, rule),
        )
        for (column, rule), group in cases.group_by(["column", "check"], maintain_order=True)
    ]
    return pl.concat(parts).sort("position", "attribute")


def _drop_warned_values(frame: pl.DataFrame, warnings: pl.DataFrame) -> pl.DataFrame:
    """A warning drops the value only: null a scalar, and stop a modify from replacing it.

    List values are filtered element by element in each contract's typing step.
    """
    if warnings.is_empty():
        return frame
    updates = []
    for (column,), group in warnings.group_by(["column"]):
        if isinstance(frame.schema[column], pl.List):
            continue
        hit = pl.col("position").is_in(group["position"].implode())
        updates.append(pl.when(hit).then(None).otherwise(pl.col(column)).alias(column))
    dropped = warnings.select("position", "attribute").unique()
    frame = frame.with_columns(updates) if updates else frame
    per_record = dropped.group_by("position").agg(pl.col("attribute").alias("dropped"))
    return (
        frame.join(per_record, on="position", how="left")
        .with_columns(
            pl.col("modified").list.set_difference(
                pl.col("dropped").fill_null(pl.lit([], pl.List(pl.String)))
            )
        )
        .drop("dropped")
    )
