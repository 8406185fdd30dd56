"""Contract of PersEducNat records: staff ("enseignants – personnels")."""

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
    present,
    real_date,
    rule_check,
)
from rentree.infra.naming import FeedType

T: FeedType = "PersEducNat"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# STRUCTID$CODE$LABEL$DISCIPLINE_CODE$DISCIPLINE_LABEL, structure and code not empty
FUNCTION_PATTERN = r"^[^$]+\$[^$]+\$[^$]*\$[^$]*\$[^$]*$"
TEACHER_CATEGORY = {"O": True, "true": True, "N": False, "false": False}
TEACHING_FUNCTIONS = ("ENS", "DOC")


class StaffContract(PersonContract):
    """A staff member: names and at least one structure are required."""

    class Config:
        name = T

    birth_date: str = pa.Field(nullable=True)
    email: str = pa.Field(nullable=True)
    struct_ids: list[str]
    functions: list[str]
    function_struct_ids: list[str]
    function_codes: list[str]
    director_of: list[str]
    teacher_category: str = pa.Field(nullable=True)

    birth_date_real = real_date(T, "birth_date")
    email_format = matches(T, "email", "email", EMAIL_PATTERN)
    email_too_long = at_most(T, "email", 254)
    # real files list staff attached nowhere (neither attachment nor function): they are
    # kept, attached to no school, and reported
    structures_named = rule_check(
        T,
        "struct_ids",
        "no_structure",
        lambda: present("struct_ids", True) | present("function_struct_ids", True),
    )
    structures_too_long = at_most(T, "struct_ids", 64, is_list=True)
    functions_format = matches(T, "functions", "function_format", FUNCTION_PATTERN, is_list=True)
    director_of_too_long = at_most(T, "director_of", 64, is_list=True)
    category_known = one_of(T, "teacher_category", "teacher_category", tuple(TEACHER_CATEGORY))


def typed_staff(frame: pl.DataFrame) -> pl.DataFrame:
    """Birth date as a date, well-formed functions only, Teacher versus Personnel, and the
    schools: the structures of the functions together with ENTPersonStructRattach (often
    an administrative home: a district, a replacement zone)."""
    functions = pl.col("functions").list.eval(
        pl.element().filter(pl.element().str.contains(FUNCTION_PATTERN))
    )
    frame = frame.with_columns(functions.alias("functions")).with_columns(
        pl.col("functions")
        .list.eval(pl.element().str.split("$").list.get(0, null_on_oob=True))
        .alias("function_struct_ids"),
        pl.col("functions")
        .list.eval(pl.element().str.split("$").list.get(1, null_on_oob=True))
        .alias("function_codes"),
        parsed_date("birth_date").alias("birth_date"),
    )
    frame = frame.with_columns(
        pl.concat_list("struct_ids", "function_struct_ids")
        .list.drop_nulls()
        .list.unique(maintain_order=True)
        .alias("struct_ids")
    )
    teaches = pl.col("function_codes").list.eval(pl.element().is_in(TEACHING_FUNCTIONS)).list.any()
    declared = pl.col("teacher_category").replace_strict(
        TEACHER_CATEGORY, default=None, return_dtype=pl.Boolean
    )
    # a modify record that replaces neither attribute says nothing about the profile
    says = (pl.col("operation") == "add") | pl.col("modified").list.eval(
        pl.element().is_in(["ENTPersonCategorieEnseignant", "ENTPersonFonctions"])
    ).list.any()
    return frame.with_columns(
        pl.when(says).then(declared.fill_null(teaches)).otherwise(None).alias("is_teacher")
    )


CONTRACT = FeedContract(
    file_type=T,
    model=StaffContract,
    required_columns=frozenset({"external_id", "category", "last_name", "first_name"}),
    typed=typed_staff,
    warning_rules=frozenset({"no_structure"}),
)
