"""Relatives ("responsables légaux") of a PersRelEleve delivery, and their schools.

A relative's school links (source feed) are the schools of their children; they are derived
from the students and relations after the delivery, not read from the relatives' file.
"""

from __future__ import annotations

import polars as pl

from rentree.tasks.sync.diff_common import (
    Changes,
    Directory,
    MissingScope,
    diff_school_links,
    modified_columns,
    plan_people,
)
from rentree.tasks.sync.identities import resolve

RELATIVE_PROFILES = ("Relative",)
_OWNED = ("first_name", "last_name", "email", "mobile", "address", "postcode", "city")


def relative_rows(
    frame: pl.DataFrame, directory: Directory, changes: Changes, scope: MissingScope
) -> tuple[pl.DataFrame, MissingScope]:
    """The records with their account (R1), and the scope sparing refused records."""
    rows = frame.select(pl.col("external_id").alias("feed_id"), "operation", "modified", *_OWNED)
    return resolve(
        modified_columns(rows), directory, RELATIVE_PROFILES, "PersRelEleve", changes, scope,
        by_ine=False,
    )  # fmt: skip


def plan_relatives(
    rows: pl.DataFrame,
    directory: Directory,
    changes: Changes,
    scope: MissingScope,
) -> None:
    people = plan_people(
        rows, directory, scope, "PersRelEleve", profiles=RELATIVE_PROFILES, owned=_OWNED
    )
    created = people.feed_accounts("educonnect", _OWNED, pl.lit("Relative").alias("profile"))
    people.add_to(changes, created)


def plan_relative_schools(
    directory: Directory,
    relatives: pl.DataFrame,
    student_links_after: pl.DataFrame,
    relations_after: pl.DataFrame,
    changes: Changes,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Feed school links of `relatives` (user_external_id) = their children's schools.

    Returns (made, cut) so that the caller can build the links after the delivery.
    """
    target = (
        relations_after.join(
            student_links_after.select(
                pl.col("user_external_id").alias("student_external_id"), "structure_uai"
            ),
            on="student_external_id",
            how="inner",
        )
        .select(pl.col("relative_external_id").alias("user_external_id"), "structure_uai")
        .join(relatives, on="user_external_id", how="semi")
        .unique()
        .with_columns(pl.lit("feed").alias("source"), pl.lit(False).alias("director"))
    )
    current = directory.structure_links.join(relatives, on="user_external_id", how="semi")
    return diff_school_links(target, current, changes)
