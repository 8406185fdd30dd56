"""Structures ("établissements") of an EtabEducNat delivery: created and updated, never deleted."""

from __future__ import annotations

import polars as pl

from rentree.tasks.sync.changeset import STRUCTURE_ATTRIBUTES
from rentree.tasks.sync.diff_common import Changes, Directory, modified_columns

_ATTRIBUTES = list(STRUCTURE_ATTRIBUTES)


def structure_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Typed EtabEducNat records as structures columns (`modified` kept for modify records)."""
    return frame.select(
        pl.col("external_id").alias("feed_id"),
        "operation",
        "modified",
        "uai",
        "name",
        pl.col("structure_type").alias("type"),
        "district",
        "town",
        "postcode",
        "rpi",
    )


def plan_structures(frame: pl.DataFrame, directory: Directory, changes: Changes) -> pl.DataFrame:
    """Add structure creations and updates to `changes`; return the structures after them."""
    rows = modified_columns(structure_rows(frame)).filter(pl.col("operation") != "delete")
    current = directory.structures.select("external_id", *_ATTRIBUTES)
    created = rows.filter(pl.col("operation") == "add").join(
        current, left_on="feed_id", right_on="external_id", how="anti"
    )
    changes.add("structures_created", created.rename({"feed_id": "external_id"}))

    joined = current.join(
        rows.select(
            pl.col("feed_id").alias("external_id"),
            "operation",
            pl.col("modified").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            *[pl.col(c).alias(f"{c}__new") for c in _ATTRIBUTES],
        ),
        on="external_id",
        how="inner",
    )
    type_named = pl.col("modified").list.contains("structure_type")
    merged = joined.with_columns(
        pl.when(
            (pl.col("operation") == "add")
            | pl.col("modified").list.contains(c)
            | (type_named if c == "type" else pl.lit(False))
        )
        .then(pl.col(f"{c}__new"))
        .otherwise(pl.col(c))
        .alias(f"{c}__after")
        for c in _ATTRIBUTES
    )
    flags = {c: pl.col(f"{c}__after").ne_missing(pl.col(c)) for c in _ATTRIBUTES}
    updated = (
        merged.with_columns(
            pl.concat_list(
                pl.when(flag).then(pl.lit(c)).otherwise(pl.lit(None, dtype=pl.String))
                for c, flag in flags.items()
            )
            .list.drop_nulls()
            .alias("changed"),
            pl.struct([pl.when(flag).then(pl.col(c)).alias(c) for c, flag in flags.items()])
            .struct.json_encode()
            .alias("before"),
        )
        .filter(pl.col("changed").list.len() > 0)
        .select(
            "external_id",
            "changed",
            *[pl.col(f"{c}__after").alias(c) for c in _ATTRIBUTES],
            "before",
        )
    )
    changes.add("structures_updated", updated)

    after = pl.concat(
        [
            current.join(updated.select("external_id"), on="external_id", how="anti"),
            updated.select("external_id", *_ATTRIBUTES),
            created.select(pl.col("feed_id").alias("external_id"), *_ATTRIBUTES),
        ],
        how="vertical_relaxed",
    )
    return after
