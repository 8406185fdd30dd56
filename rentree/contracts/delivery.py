"""Checks across the files of one delivery (feeds.md, "Across files of a delivery").

They run on the records each file's contract kept, all chunks of a type together:
the same id twice in a type, a UAI or an INE given twice, structures that neither the
delivery nor the directory know (a pupil's is rejected; a staff member's is a warning that
drops that link), a class code with two labels in one structure, and relatives named by a
pupil that nobody knows (a warning: the link is skipped). A relation counts from either
side: a relative naming a pupil of the delivery (ENTPersRelEleveEleve) is the pupil's too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from rentree.contracts.base import empty_failures, failures_at
from rentree.contracts.rules import Severity
from rentree.infra.naming import FEED_TYPES, FeedType


def _no_ids() -> pl.Series:
    return pl.Series("external_id", [], dtype=pl.String)


@dataclass(frozen=True)
class KnownIds:
    """Ids the directory already holds (only those the delivery asks about need be here)."""

    structures: pl.Series = field(default_factory=_no_ids)
    relatives: pl.Series = field(default_factory=_no_ids)


@dataclass(frozen=True)
class DeliveryResult:
    frames: dict[FeedType, pl.DataFrame]
    failures: pl.DataFrame


def referenced_ids(frames: dict[FeedType, pl.DataFrame]) -> KnownIds:
    """The structure and relative ids the records name that the delivery itself lacks:
    what to look up in the directory before `check_delivery`."""
    structures = _ids_in(frames, "EtabEducNat")
    relatives = _ids_in(frames, "PersRelEleve")
    named_structures = pl.concat(
        [
            frames[t]["struct_ids"].explode().drop_nulls()
            for t in ("PersEducNat", "Eleve")
            if t in frames
        ]
        or [_no_ids()]
    )
    named_relatives = (
        frames["Eleve"]["relative_ids"].explode().drop_nulls() if "Eleve" in frames else _no_ids()
    )
    return KnownIds(
        structures=_missing(named_structures, structures),
        relatives=_missing(named_relatives, relatives),
    )


def _missing(named: pl.Series, present: pl.Series) -> pl.Series:
    return named.filter(~named.is_in(present.implode())).unique().sort().alias("external_id")


def _ids_in(frames: dict[FeedType, pl.DataFrame], file_type: FeedType) -> pl.Series:
    if file_type not in frames:
        return _no_ids()
    frame = frames[file_type]
    return frame.filter(pl.col("operation") != "delete")["external_id"].drop_nulls()


def check_delivery(frames: dict[FeedType, pl.DataFrame], known: KnownIds) -> DeliveryResult:
    """Run the cross-file checks; rejected records leave the frames, unknown links are cut."""
    structures = pl.concat([_ids_in(frames, "EtabEducNat"), known.structures.cast(pl.String)])
    relatives = pl.concat([_ids_in(frames, "PersRelEleve"), known.relatives.cast(pl.String)])
    found: list[pl.DataFrame] = []
    for file_type in FEED_TYPES:
        if file_type not in frames:
            continue
        frame = frames[file_type].with_row_index("_row")
        found.append(_duplicates(frame, file_type, "external_id", "duplicate_id"))
        if file_type == "EtabEducNat":
            found.append(_duplicates(frame, file_type, "uai", "duplicate_uai"))
        if file_type == "Eleve":
            found.append(_duplicates(frame, file_type, "ine", "duplicate_ine"))
            found.append(_class_label_conflicts(frame, file_type))
            found.append(_unknown(frame, file_type, "relative_ids", relatives, "warning"))
        if file_type == "Eleve":
            found.append(_unknown(frame, file_type, "struct_ids", structures, "record"))
        if file_type == "PersEducNat":
            found.append(_unknown(frame, file_type, "struct_ids", structures, "warning"))
    failures = pl.concat([f for f in found if not f.is_empty()] or [empty_failures()])
    rejected = failures.filter(pl.col("severity") == "record").select("file", "position").unique()
    kept: dict[FeedType, pl.DataFrame] = {}
    for file_type, frame in frames.items():
        frame = frame.join(rejected, on=["file", "position"], how="anti")
        if file_type == "Eleve":
            frame = _with_relatives_side(frame, frames.get("PersRelEleve"))
            frame = _without_strangers(frame, "relative_ids", relatives)
        if file_type == "PersEducNat":
            frame = _without_strangers(frame, "struct_ids", structures)
        kept[file_type] = frame
    return DeliveryResult(frames=kept, failures=failures.sort("file", "position"))


def _with_relatives_side(students: pl.DataFrame, relatives: pl.DataFrame | None) -> pl.DataFrame:
    """Add to each pupil's relatives those who name the pupil (ENTPersRelEleveEleve).

    Only records that give the whole picture take part: the pupil's add record, and the
    relative's add record.
    """
    if relatives is None or "student_ids" not in relatives.columns:
        return students
    claims = (
        relatives.filter(pl.col("operation") == "add")
        .select(pl.col("student_ids").alias("external_id"), pl.col("external_id").alias("_rel"))
        .explode("external_id")
        .drop_nulls()
        .group_by("external_id")
        .agg(pl.col("_rel").unique().sort())
    )
    if claims.is_empty():
        return students
    is_add = pl.col("operation") == "add"
    return (
        students.join(claims, on="external_id", how="left")
        .with_columns(
            pl.when(is_add & pl.col("_rel").is_not_null())
            .then(pl.concat_list("relative_ids", "_rel").list.unique(maintain_order=True))
            .otherwise(pl.col("relative_ids"))
            .alias("relative_ids")
        )
        .drop("_rel")
    )


def _duplicates(frame: pl.DataFrame, file_type: FeedType, column: str, rule: str) -> pl.DataFrame:
    values = pl.col(column)
    twice = frame.filter(values.is_not_null() & (values.len().over(column) > 1))
    return failures_at(frame, file_type, twice["_row"], column, rule, "record")


def _class_label_conflicts(frame: pl.DataFrame, file_type: FeedType) -> pl.DataFrame:
    """Within a structure a class code has one label: the most frequent wins (ties: the
    smallest), the pupils given another label are rejected."""
    classes = frame.filter(pl.col("class_code").is_not_null() & pl.col("struct_id").is_not_null())
    if classes.is_empty():
        return empty_failures()
    labels = (
        classes.group_by("struct_id", "class_code", "class_label")
        .len()
        .sort(["len", "class_label"], descending=[True, False], nulls_last=True)
        .group_by("struct_id", "class_code", maintain_order=True)
        .first()
        .select("struct_id", "class_code", pl.col("class_label").alias("_kept"))
    )
    odd = classes.join(labels, on=["struct_id", "class_code"]).filter(
        pl.col("class_label").ne_missing(pl.col("_kept"))
    )
    return failures_at(frame, file_type, odd["_row"], "classes", "class_label_conflict", "record")


def _strangers(frame: pl.DataFrame, column: str, known: pl.Series) -> pl.DataFrame:
    """Per row (`_row`) naming ids the known set lacks: those ids, as a list `strangers`.

    Done by exploding and joining: a membership test inside a list expression would
    compare every element with the whole known set.
    """
    named = frame.select("_row", pl.col(column).alias("id")).explode("id").drop_nulls("id")
    known_ids = pl.DataFrame({"id": known}).unique()
    return (
        named.join(known_ids, on="id", how="anti")
        .group_by("_row", maintain_order=True)
        .agg(pl.col("id").alias("strangers"))
    )


def _unknown(
    frame: pl.DataFrame, file_type: FeedType, column: str, known: pl.Series, severity: Severity
) -> pl.DataFrame:
    strangers = _strangers(frame, column, known).sort("_row")
    hit = frame.join(strangers, on="_row").sort("_row")
    if column == "struct_ids":
        rule = "unknown_structure" if severity == "record" else "unknown_structure_link"
    else:
        rule = "unknown_relative"
    return failures_at(
        hit,
        file_type,
        pl.Series(range(hit.height)),
        column,
        rule,
        severity,
        value=pl.col("strangers").list.join(" | "),
    )


def _without_strangers(frame: pl.DataFrame, column: str, known: pl.Series) -> pl.DataFrame:
    """Cut the ids the known set lacks out of a list column (unknown relatives)."""
    indexed = frame.with_row_index("_row")
    strangers = _strangers(indexed, column, known)
    if strangers.is_empty():
        return frame
    return (
        indexed.join(strangers, on="_row", how="left")
        .with_columns(
            pl.col(column).list.set_difference(
                pl.col("strangers").fill_null(pl.lit([], pl.List(pl.String)))
            )
        )
        .drop("_row", "strangers")
    )
