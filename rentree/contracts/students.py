"""Contract of Eleve records: pupils ("élèves")."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from rentree.contracts.base import (
    FeedContract,
    PersonContract,
    at_most,
    matches,
    one_of,
    parsed_date,
    real_date,
    required,
    rule_check,
)
from rentree.contracts.vocabulary import LEVELS
from rentree.infra.naming import FeedType

T: FeedType = "Eleve"
INE_PATTERN = r"^[0-9A-Z]{10}[A-Z]$"
# STRUCTID$x$y$CLASS_CODE$CLASS_LABEL: structure and class code not empty
CLASS_PATTERN = r"^[^$]+\$[^$]*\$[^$]*\$[^$]+\$[^$]*$"
MIN_AGE, MAX_AGE = 2, 14


def age_on_rentree_day() -> pl.Expr:
    """Whole years of age on the first of September of the school year (column rentree_day)."""
    born = parsed_date("birth_date")
    day = pl.col("rentree_day")
    before_birthday = (born.dt.month() > day.dt.month()) | (
        (born.dt.month() == day.dt.month()) & (born.dt.day() > day.dt.day())
    )
    return day.dt.year() - born.dt.year() - before_birthday.cast(pl.Int32)


def _age_in_range() -> pl.Expr:
    return age_on_rentree_day().is_between(MIN_AGE, MAX_AGE)


def _one_structure() -> pl.Expr:
    return pl.col("struct_ids").list.len() <= 1


def _a_class_in_own_structure() -> pl.Expr:
    # unknown when the record does not name the structure (a modify replacing classes only)
    own = pl.col("struct_ids")
    return (
        (own.list.len() != 1)
        | (pl.col("class_struct_ids").list.len() == 0)
        | (pl.col("class_struct_ids").list.set_intersection(own).list.len() > 0)
    )


def _every_class_in_own_structure() -> pl.Expr:
    # only asked when the pupil has a class of their own structure (else the record is out)
    own = pl.col("struct_ids")
    return (
        (own.list.len() != 1)
        | (pl.col("class_struct_ids").list.set_intersection(own).list.len() == 0)
        | (pl.col("class_struct_ids").list.set_difference(own).list.len() == 0)
    )


class StudentContract(PersonContract):
    """A pupil: INE, names, birth date, one structure, a class of it and a level."""

    class Config:
        name = T

    ine: str = pa.Field(nullable=True)
    birth_date: str = pa.Field(nullable=True)
    struct_ids: list[str]
    classes: list[str]
    class_struct_ids: list[str]
    class_codes: list[str]
    class_labels: list[str]
    level: str = pa.Field(nullable=True)
    relative_ids: list[str]

    ine_required = required(T, "ine")
    ine_format = matches(T, "ine", "ine_format", INE_PATTERN)
    birth_date_required = required(T, "birth_date")
    birth_date_real = real_date(T, "birth_date")
    birth_date_age = rule_check(T, "birth_date", "age_2_to_14", _age_in_range)
    structure_required = required(T, "struct_ids", is_list=True)
    structure_exactly_one = rule_check(T, "struct_ids", "exactly_one", _one_structure)
    structure_too_long = at_most(T, "struct_ids", 64, is_list=True)
    classes_required = required(T, "classes", is_list=True)
    classes_format = matches(T, "classes", "class_format", CLASS_PATTERN, is_list=True)
    classes_own_structure = rule_check(
        T, "classes", "class_of_another_school", _a_class_in_own_structure
    )
    # a pupil in a class and a group: later values of another structure are dropped, warned
    other_classes_own_structure = rule_check(
        T, "classes", "other_class_of_another_school", _every_class_in_own_structure
    )
    class_code_too_long = at_most(T, "class_codes", 100, is_list=True)
    class_label_too_long = at_most(T, "class_labels", 200, is_list=True)
    level_required = required(T, "level")
    level_known = one_of(T, "level", "level", LEVELS)
    relatives_too_long = at_most(T, "relative_ids", 64, is_list=True)


def typed_students(frame: pl.DataFrame) -> pl.DataFrame:
    """Birth date as a date; the one structure; the classes held in that structure (the
    first is the pupil's class, later ones its groups); classes of another structure are
    dropped (the contract warned about them)."""
    frame = frame.with_columns(pl.col("struct_ids").list.first().alias("struct_id"))
    # a modify record replacing the classes only does not name the structure: keep them all
    indexed = frame.with_row_index("_row")
    exploded = (
        indexed.select("_row", "struct_id", "class_struct_ids", "class_codes", "class_labels")
        .explode("class_struct_ids", "class_codes", "class_labels")
        .filter(
            pl.col("class_codes").is_not_null()
            & (pl.col("struct_id").is_null() | (pl.col("class_struct_ids") == pl.col("struct_id")))
        )
        .group_by("_row", maintain_order=True)
        .agg("class_codes", "class_labels")
    )
    return (
        indexed.drop("class_codes", "class_labels")
        .join(exploded, on="_row", how="left")
        .with_columns(
            pl.col("class_codes").fill_null(pl.lit([], pl.List(pl.String))),
            pl.col("class_labels").fill_null(pl.lit([], pl.List(pl.String))),
        )
        .with_columns(
            parsed_date("birth_date").alias("birth_date"),
            pl.col("class_codes").list.first().alias("class_code"),
            pl.col("class_labels").list.first().alias("class_label"),
        )
        .drop("_row")
        .select(*frame.columns, "class_code", "class_label")
    )


CONTRACT = FeedContract(
    file_type=T,
    model=StudentContract,
    required_columns=frozenset(
        {
            "external_id",
            "category",
            "ine",
            "last_name",
            "first_name",
            "birth_date",
            "struct_ids",
            "classes",
            "class_struct_ids",
            "class_codes",
            "class_labels",
            "level",
        }
    ),
    typed=typed_students,
    warning_rules=frozenset({"other_class_of_another_school"}),
)
