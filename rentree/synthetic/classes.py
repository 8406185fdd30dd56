"""The classes of a synthetic region: pupils of a school and level shared out into classes
of the scale's capacity, double levels where a cohort is small."""

from __future__ import annotations

import numpy as np
import polars as pl

from rentree.contracts.vocabulary import LEVELS
from rentree.synthetic import names
from rentree.synthetic.draws import pick


def form_classes(
    rng: np.random.Generator,
    schools: pl.DataFrame,
    pupils: pl.DataFrame,
    school_col: str,
    level_col: str,
    start: int,
    capacity: int,
    apart: dict[int, tuple[int, ...]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split each school's pupils, in level then name order, into classes of about
    `class_capacity` pupils; a class spanning two levels is a multi-level class. The levels
    `apart` names for a school (school -> levels) are split into classes of their own.

    Returns the classes (school, code, label, levels) and, per pupil, its class code and
    label in columns suffixed with the year's index (`class_code_0`...).
    """
    suffix = school_col.rsplit("_", 1)[1]
    present = pupils.filter(pl.col(school_col).is_not_null()).select(
        "pupil",
        "last_name",
        "first_name",
        school=pl.col(school_col),
        level=pl.col(level_col),
    )
    apart_rows = pl.DataFrame(
        [(s, lv) for s, levels in (apart or {}).items() for lv in levels],
        schema={"school": pl.Int64, "level": pl.Int64},
        orient="row",
    ).with_columns(part=pl.lit(0, dtype=pl.Int64))
    present = (
        present.cast({"school": pl.Int64, "level": pl.Int64})
        .join(apart_rows, on=["school", "level"], how="left", maintain_order="left")
        .with_columns(pl.col("part").fill_null(1))
        .sort("school", "part", "level", "last_name", "first_name", "pupil")
    )
    # Each part of a school (its levels apart, the rest) is split on its own.
    n = pl.len().over("school", "part")
    rank = pl.int_range(pl.len()).over("school", "part")
    k = ((n + capacity - 1) // capacity).cast(pl.Int64)
    present = present.with_columns(
        class_no=(
            pl.struct(pl.col("part"), (rank * k // n).alias("no")).rank("dense").over("school") - 1
        ).cast(pl.Int64)
    )
    classes = (
        present.group_by("school", "class_no", maintain_order=True)
        .agg(levels=pl.col("level").unique(maintain_order=True), size=pl.len())
        .with_columns(
            base=pl.col("levels")
            .list.eval(
                pl.element().replace_strict(list(range(9)), list(LEVELS), return_dtype=pl.String)
            )
            .list.join("-")
        )
        .with_columns(
            letter=pl.int_range(pl.len()).over("school", "base"),
        )
    )
    nickname = pick(rng, names.CLASS_NICKNAMES, classes.height)
    letters = pl.Series(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    classes = classes.with_columns(
        code=pl.format("{}-{}", pl.col("base"), letters.gather(classes["letter"].to_numpy())),
        label=pl.format(
            "{} {} - {}",
            pl.col("base"),
            letters.gather(classes["letter"].to_numpy()),
            nickname,
        ),
        levels_text=pl.col("base").str.replace_all("-", ","),
    ).join(schools.select("school", "uai", "structure_id"), on="school", maintain_order="left")
    placed = present.join(
        classes.select("school", "class_no", "code", "label"),
        on=["school", "class_no"],
        maintain_order="left",
    ).select(
        "pupil",
        pl.col("code").alias(f"class_code_{suffix}"),
        pl.col("label").alias(f"class_label_{suffix}"),
    )
    classes = classes.select(
        "school", "uai", "structure_id", "code", "label", "levels_text", "size"
    ).with_columns(year_start=pl.lit(start))
    return classes, placed
