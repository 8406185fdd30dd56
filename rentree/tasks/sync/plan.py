"""Plan a delivery: from its validated frames and the directory, the change set it would make.

Pure: reads the directory (each table needed once), writes nothing. The diffs per feed type
live in `diff_structures`, `diff_staff`, `diff_students`, `diff_relatives`, `diff_groups`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Protocol

import polars as pl
from sqlalchemy import Connection

from rentree.infra.naming import academy_id_prefix
from rentree.tasks.intake.ledger import files_frame
from rentree.tasks.sync.apply import directory_fingerprint
from rentree.tasks.sync.changeset import KINDS, ChangeSet
from rentree.tasks.sync.diff_common import Changes, MissingScope
from rentree.tasks.sync.diff_groups import plan_classes_and_groups
from rentree.tasks.sync.diff_relatives import plan_relatives, relative_rows
from rentree.tasks.sync.diff_staff import plan_staff
from rentree.tasks.sync.diff_structures import plan_structures
from rentree.tasks.sync.diff_students import plan_students
from rentree.tasks.sync.directory import read_directory
from rentree.tasks.sync.identities import refusal_report, resolve_ids
from rentree.tasks.sync.records import unchanged_delivery
from rentree.tasks.sync.scope import is_delta, read_delta_scope

# validation report severities whose record was rejected (feeds.md "Severity")
REJECTED_SEVERITIES = ("record", "error")


class StagedFileLike(Protocol):
    @property
    def content_hash(self) -> str: ...


class StagedLike(Protocol):
    """What a plan needs of `tasks.stage.StagedDelivery`."""

    @property
    def school_year(self) -> str: ...
    @property
    def delivery(self) -> str: ...
    @property
    def files(self) -> tuple[Any, ...]: ...
    @property
    def frames(self) -> Mapping[str, pl.DataFrame]: ...
    @property
    def complete(self) -> Mapping[str, bool]: ...
    @property
    def problems(self) -> pl.DataFrame: ...


def plan_delivery(
    conn: Connection,
    staged: StagedLike,
    *,
    today: date,
    rejected_ids: Iterable[str] | None = None,
    schools: Iterable[str] | None = None,
    whole_directory: bool = False,
) -> ChangeSet:
    """The change set of a validated delivery against the directory of its school year.

    `rejected_ids`: feed ids of records validation rejected (default: read from
    `staged.problems`); those people are neither updated nor marked missing. `schools`: when
    given (a family import for some schools only), only people of those schools are marked
    missing. A delivery of Delta files only is planned on the part of the directory its
    records can touch (`tasks.sync.scope`), unless `whole_directory`: the same change set,
    at the cost of reading everything.
    """
    year = staged.school_year
    ids = list(rejected_ids) if rejected_ids is not None else rejected_from(staged.problems)
    complete = dict(staged.complete)
    # a Delta is never planned from its records' digest, and its fingerprint is taken only
    # if it is held (`tasks.imports.apply`, in the same transaction): counting the region's tables
    # is a second or more of a few hundred changes' plan on PostgreSQL
    fingerprint = "" if is_delta(complete) else directory_fingerprint(conn, year)
    if not ids and unchanged_delivery(conn, year, staged.frames, complete, fingerprint):
        # the same records as the last full apply, onto the directory it left: no change
        return _change_set(staged, fingerprint, complete, Changes())
    delta = None
    if is_delta(complete) and not whole_directory:
        delta = read_delta_scope(conn, year, staged.frames, ids)
        directory = delta.directory
    else:
        directory = read_directory(conn, year)
    rejected = resolve_ids(
        pl.DataFrame({"account_id": ids}, schema={"account_id": pl.String}), "account_id", directory
    )
    school_list = sorted(set(schools)) if schools is not None else None
    frames = staged.frames
    changes = Changes()
    academy = getattr(staged, "academy", None)
    scope = MissingScope(
        complete, rejected, today, school_list, academy_id_prefix(academy) if academy else None
    )

    structures_after = directory.structures.select("external_id", "uai", "name")
    if "EtabEducNat" in frames:
        structures_after = plan_structures(frames["EtabEducNat"], directory, changes)
    if "PersEducNat" in frames:
        plan_staff(frames["PersEducNat"], directory, structures_after, changes, scope)
    relatives = pl.DataFrame(schema={"account_id": pl.String})
    if "PersRelEleve" in frames:
        rows, relatives_scope = relative_rows(frames["PersRelEleve"], directory, changes, scope)
        relatives = rows.filter(pl.col("operation") != "delete").select("account_id")
        plan_relatives(rows, directory, changes, relatives_scope)
    named_classes = pl.DataFrame(schema={"external_id": pl.String})
    if "Eleve" in frames:
        named_classes = plan_students(
            frames["Eleve"], directory, structures_after, relatives, changes, scope
        )
    plan_classes_and_groups(
        directory,
        changes,
        structures_after=structures_after,
        named_classes=named_classes.select(
            "external_id", "structure_uai", "school_year", "code", "label"
        )
        if named_classes.width > 1
        else pl.DataFrame(
            schema={
                "external_id": pl.String,
                "structure_uai": pl.String,
                "school_year": pl.String,
                "code": pl.String,
                "label": pl.String,
            }
        ),
        family=bool({"Eleve", "PersRelEleve"} & set(frames)),
        rejected=pl.concat([rejected, *changes.spared]).unique(),
    )
    if delta is not None:
        delta.trim(conn, changes)
    return _change_set(staged, fingerprint, complete, changes)


def _change_set(
    staged: StagedLike, fingerprint: str, complete: dict[str, bool], changes: Changes
) -> ChangeSet:
    return ChangeSet(
        school_year=staged.school_year,
        delivery=staged.delivery,
        file_hashes=tuple(f.content_hash for f in staged.files),
        fingerprint=fingerprint,
        complete=complete,
        files=files_frame(
            ((f.feed, f.content_hash) for f in staged.files), getattr(staged, "academy", None)
        ),
        refused=refusal_report(staged.frames, changes.refused),
        **{kind: changes.get(kind) for kind in KINDS},
    )


def rejected_from(problems: pl.DataFrame | None) -> list[str]:
    """Feed ids of the records a validation report rejected."""
    if problems is None or problems.is_empty():
        return []
    column = next((c for c in ("record_id", "external_id") if c in problems.columns), None)
    if column is None:
        return []
    if "severity" in problems.columns:
        problems = problems.filter(pl.col("severity").is_in(REJECTED_SEVERITIES))
    return problems[column].drop_nulls().unique().to_list()
