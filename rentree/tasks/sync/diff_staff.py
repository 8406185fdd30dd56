"""Staff ("enseignants – personnels") of a PersEducNat delivery (R8).

Staff are attached to the schools the feed names and detached from the schools they left,
only for links that came from the feed: links made by hand survive. No class link is made,
and students' and relatives' links are not looked at.
"""

from __future__ import annotations

import polars as pl

from rentree.contracts.vocabulary import STAFF_PROFILES
from rentree.tasks.sync.diff_common import (
    Changes,
    Directory,
    MissingScope,
    diff_school_links,
    links_of,
    modified_columns,
    plan_people,
    touches,
)
from rentree.tasks.sync.identities import resolve

_OWNED = ("profile", "first_name", "last_name", "birth_date", "email")


def staff_rows(frame: pl.DataFrame, structure_uais: pl.DataFrame) -> pl.DataFrame:
    """Typed PersEducNat records with their profile; `struct_ids` and `director_of` become UAIs."""
    rows = frame.select(
        pl.col("external_id").alias("feed_id"),
        "operation",
        "modified",
        pl.when(pl.col("is_teacher").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("is_teacher"))
        .then(pl.lit("Teacher"))
        .otherwise(pl.lit("Personnel"))
        .alias("profile"),
        "first_name",
        "last_name",
        "birth_date",
        "email",
        "struct_ids",
        "director_of",
    )
    rows = modified_columns(rows)
    return rows.with_columns(
        _map_ids("struct_ids", structure_uais), _map_ids("director_of", structure_uais)
    )


def _map_ids(column: str, structure_uais: pl.DataFrame) -> pl.Expr:
    """Structure ids -> UAIs (ids unknown in the delivery and the directory are dropped)."""
    mapping = dict(
        zip(structure_uais["external_id"].to_list(), structure_uais["uai"].to_list(), strict=True)
    )
    return (
        pl.col(column)
        .list.eval(pl.element().replace_strict(mapping, default=None, return_dtype=pl.String))
        .list.drop_nulls()
        .alias(column)
    )


def plan_staff(
    frame: pl.DataFrame,
    directory: Directory,
    structures_after: pl.DataFrame,
    changes: Changes,
    scope: MissingScope,
) -> None:
    rows = staff_rows(frame, structures_after)
    rows, scope = resolve(
        rows, directory, STAFF_PROFILES, "PersEducNat", changes, scope, by_ine=False
    )
    people = plan_people(
        rows, directory, scope, "PersEducNat", profiles=STAFF_PROFILES, owned=_OWNED
    )
    created = people.feed_accounts(
        "academic_sso", _OWNED, pl.col("struct_ids").list.first().alias("structure_uai")
    )
    people.add_to(changes, created)

    scoped = rows.filter(touches("struct_ids", "director_of"))
    current = links_of(directory.structure_links, scoped)
    feed_links = current.filter(pl.col("source") == "feed")
    given_structs = scoped.filter(touches("struct_ids"))
    kept_structs = links_of(feed_links, scoped.filter(~touches("struct_ids"))).select(
        "user_external_id", "structure_uai"
    )
    targets = pl.concat(
        [
            given_structs.select(
                pl.col("account_id").alias("user_external_id"),
                pl.col("struct_ids").alias("structure_uai"),
            ).explode("structure_uai"),
            kept_structs,
        ]
    ).drop_nulls()
    directors_given = (
        scoped.filter(touches("director_of"))
        .select(
            pl.col("account_id").alias("user_external_id"),
            pl.col("director_of").alias("structure_uai"),
        )
        .explode("structure_uai")
        .drop_nulls()
        .with_columns(pl.lit(True).alias("named"))
    )
    directors_kept = links_of(
        feed_links.filter(pl.col("director")), scoped.filter(~touches("director_of"))
    )
    directors = pl.concat(
        [
            directors_given.select("user_external_id", "structure_uai"),
            directors_kept.select("user_external_id", "structure_uai"),
        ]
    ).with_columns(pl.lit(True).alias("director"))
    targets = (
        targets.unique()
        .join(directors, on=["user_external_id", "structure_uai"], how="left")
        .with_columns(pl.col("director").fill_null(False), pl.lit("feed").alias("source"))
    )
    diff_school_links(targets, current, changes, ["director"])
