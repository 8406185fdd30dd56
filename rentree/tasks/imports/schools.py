"""A run for some schools only (manual re-runs after late ONDE entries): the change set
cut down to the rows of those schools."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from rentree.tasks.sync.changeset import ChangeSet, school_expr


def restrict_to_schools(change_set: ChangeSet, schools: Sequence[str]) -> ChangeSet:
    """Only the rows of the given schools; the files are not recorded as applied.

    People are kept when the row names one of the schools (`structure_uai`, or the school
    in the class or group id); relations and identity links follow their student/account.
    """
    wanted = list(schools)
    frames = change_set.frames()
    people: set[str] = set()
    kept: dict[str, pl.DataFrame] = {}
    for kind, frame in frames.items():
        if kind in ("relations_made", "relations_cut", "identities_linked"):
            continue
        school = school_expr(kind, frame)
        kept[kind] = frame.filter(school.is_in(wanted))
        for column in ("external_id", "user_external_id"):
            if column in kept[kind].columns and kind.startswith(("users_", "structure_", "class_")):
                people.update(kept[kind][column].drop_nulls().to_list())
    person = sorted(people)
    kept["relations_made"] = frames["relations_made"].filter(
        pl.col("student_external_id").is_in(person)
    )
    kept["relations_cut"] = frames["relations_cut"].filter(
        pl.col("student_external_id").is_in(person)
    )
    # relatives have no school of their own: they follow the pupils kept
    relatives = sorted(
        set(kept["relations_made"]["relative_external_id"].to_list())
        | set(kept["relations_cut"]["relative_external_id"].to_list())
    )
    for kind in ("users_created", "users_updated", "users_back"):
        followers = frames[kind].filter(
            pl.col("structure_uai").is_null() & pl.col("external_id").is_in(relatives)
        )
        kept[kind] = pl.concat([kept[kind], followers])
    kept["identities_linked"] = frames["identities_linked"].filter(
        pl.col("user_external_id").is_in(person)
    )
    restricted = dataclasses.replace(change_set, file_hashes=(), files=change_set.files.clear())
    for kind, frame in kept.items():
        setattr(restricted, kind, frame)
    return restricted
