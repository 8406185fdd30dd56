"""Students ("élèves") of an Eleve delivery: accounts (R1, R2, R3), school, class, relations."""

from __future__ import annotations

import dataclasses

import polars as pl

from rentree.infra.naming import class_ids
from rentree.tasks.sync.accounts import activation_codes, assign_logins
from rentree.tasks.sync.diff_common import (
    Changes,
    Directory,
    MissingScope,
    diff_links,
    diff_school_links,
    links_of,
    modified_columns,
    plan_people,
    touches,
)
from rentree.tasks.sync.identities import resolve, resolve_ids

STUDENT_PROFILES = ("Student",)
_OWNED = ("ine", "first_name", "last_name", "birth_date", "level")


def student_rows(frame: pl.DataFrame, structure_uais: pl.DataFrame) -> pl.DataFrame:
    """Typed Eleve records; `struct_id` becomes the school's UAI."""
    rows = frame.select(
        pl.col("external_id").alias("feed_id"),
        "operation",
        "modified",
        "ine",
        "first_name",
        "last_name",
        "birth_date",
        "level",
        "struct_id",
        "class_code",
        "class_label",
        "class_codes",
        "class_labels",
        "relative_ids",
    )
    rows = modified_columns(rows)
    return (
        rows.join(
            structure_uais.select(pl.col("external_id").alias("struct_id"), pl.col("uai")),
            on="struct_id",
            how="left",
        )
        .with_columns(pl.col("uai").alias("struct_id"))
        .drop("uai")
    )


def _at_school(people: pl.DataFrame, school_after: pl.DataFrame) -> pl.DataFrame:
    """`structure_uai` of each person: their school after the delivery when known."""
    joined = people.join(school_after, on="external_id", how="left")
    current = pl.col("structure_uai") if "structure_uai" in people.columns else pl.lit(None)
    return joined.with_columns(
        pl.coalesce("_school", current).cast(pl.String).alias("structure_uai")
    ).drop("_school")


def plan_students(
    frame: pl.DataFrame,
    directory: Directory,
    structures_after: pl.DataFrame,
    relative_accounts: pl.DataFrame,
    changes: Changes,
    scope: MissingScope,
) -> pl.DataFrame:
    """Add the students' changes; return the classes the delivery names (id, uai, code, label).

    `relative_accounts` (account_id) are the relatives of the delivery; with the directory's
    relatives they are the ones a relation can name (unknown ones are skipped, feeds.md).
    """
    year = directory.school_year
    rows = student_rows(frame, structures_after)
    rows, scope = resolve(rows, directory, STUDENT_PROFILES, "Eleve", changes, scope, by_ine=True)
    people = plan_people(rows, directory, scope, "Eleve", profiles=STUDENT_PROFILES, owned=_OWNED)
    new = people.created.rename({"account_id": "external_id"})
    logins = assign_logins(new.select("external_id", "first_name", "last_name"), directory.logins)
    created = (
        new.join(logins, on="external_id", how="left")
        .sort("external_id")
        .with_columns(
            activation_codes(new.height),
            pl.lit("Student").alias("profile"),
            pl.lit("feed").alias("source"),
            pl.lit("local").alias("identity"),
            pl.lit("pending").alias("activation_state"),
            pl.col("struct_id").alias("structure_uai"),
        )
    )
    current_school = (
        directory.structure_links.filter(pl.col("source") == "feed")
        .sort("structure_uai")
        .unique("user_external_id", keep="first")
        .select(pl.col("user_external_id").alias("account_id"), pl.col("structure_uai"))
    )
    rows = rows.join(current_school, on="account_id", how="left").with_columns(
        pl.when(touches("struct_id"))
        .then(pl.col("struct_id"))
        .otherwise(pl.col("structure_uai"))
        .alias("school")
    )
    # updates and returns count under the pupil's school after the delivery, so that a run
    # for some schools (late entries) keeps them with the pupils' new links
    school_after = (
        rows.filter(pl.col("operation") != "delete")
        .select(pl.col("account_id").alias("external_id"), pl.col("school").alias("_school"))
        .unique("external_id", keep="first")
    )
    people = dataclasses.replace(
        people,
        updated=_at_school(people.updated, school_after),
        back=_at_school(people.back, school_after),
    )
    people.add_to(changes, created)

    # school link (feed): exactly the school the record names
    scoped = rows.filter(touches("struct_id"))
    current = links_of(directory.structure_links, scoped)
    target = scoped.select(
        pl.col("account_id").alias("user_external_id"),
        pl.col("struct_id").alias("structure_uai"),
        pl.lit("feed").alias("source"),
        pl.lit(False).alias("director"),
    ).drop_nulls("structure_uai")
    diff_school_links(target, current, changes)

    # class links of this school year (feed): the class, and any further class of the school
    # the pupil is in (a group)
    scoped = (
        rows.filter(touches("class_code", "struct_id"))
        .drop("class_code", "class_label")
        .explode("class_codes", "class_labels")
        .rename({"class_codes": "class_code", "class_labels": "class_label"})
    )
    scoped = scoped.with_columns(
        class_ids(year, pl.col("school"), pl.col("class_code")).alias("class_id")
    )
    current = links_of(directory.class_links.filter(pl.col("source") == "feed"), scoped)
    target = scoped.select(
        pl.col("account_id").alias("user_external_id"),
        pl.col("class_id").alias("class_external_id"),
        pl.lit(year).alias("school_year"),
        pl.lit("feed").alias("source"),
    ).drop_nulls("class_external_id")
    made, cut = diff_links(target, current, ["user_external_id", "class_external_id"])
    changes.add("class_links_made", made)
    changes.add("class_links_cut", cut)
    named_classes = (
        scoped.filter(pl.col("class_id").is_not_null())
        .sort("class_id", "account_id")
        .unique("class_id", keep="first")
        .select(
            pl.col("class_id").alias("external_id"),
            pl.col("school").alias("structure_uai"),
            pl.lit(year).alias("school_year"),
            pl.col("class_code").alias("code"),
            pl.coalesce("class_label", "class_code").alias("label"),
        )
    )

    # relations ("autorité parentale"): the relatives the record names that exist
    scoped = rows.filter(touches("relative_ids"))
    known = pl.concat(
        [
            directory.users.filter(pl.col("profile") == "Relative").select(
                pl.col("external_id").alias("relative_external_id")
            ),
            relative_accounts.select(pl.col("account_id").alias("relative_external_id")),
        ]
    ).unique()
    target = resolve_ids(
        scoped.select(
            pl.col("account_id").alias("student_external_id"),
            pl.col("relative_ids").alias("relative_external_id"),
        )
        .explode("relative_external_id")
        .drop_nulls(),
        "relative_external_id",
        directory,
    ).join(known, on="relative_external_id", how="semi")
    current = directory.relations.join(
        scoped.select(pl.col("account_id").alias("student_external_id")),
        on="student_external_id",
        how="semi",
    )
    made, cut = diff_links(target, current, ["student_external_id", "relative_external_id"])
    changes.add("relations_made", made)
    changes.add("relations_cut", cut)
    return named_classes
