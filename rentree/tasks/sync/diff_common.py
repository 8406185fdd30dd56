"""What every diff of the sync engine shares: the directory as read once, identity resolution
(R1), people's attribute changes and missing marks (R11), and link differences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import polars as pl

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.aaf import ATTRIBUTES
from rentree.tasks.sync.changeset import USER_ATTRIBUTES, conform, empty_frame

# a school's final level: its pupils leave it at the end of the year (expected leavers)
FINAL_LEVEL_OF_TYPE = {"maternelle": "GS", "elementaire": "CM2", "primaire": "CM2"}

# AAF attribute names a modifyRequest may name -> columns of the typed frames they fill: the
# reader's column of each attribute (`infra.aaf.ATTRIBUTES`, the one attribute map), then the
# columns the contracts derive from it.
_DERIVED_COLUMNS: dict[str, tuple[str, ...]] = {
    "ENTPersonStructRattach": ("struct_id",),
    # a staff member's schools are their functions' structures with their attachment
    "ENTPersonFonctions": ("is_teacher", "profile", "struct_ids"),
    "ENTPersonCategorieEnseignant": ("is_teacher", "profile"),
    "ENTPersonClasses": ("class_code", "class_label", "class_codes", "class_labels"),
}
AAF_COLUMNS: dict[str, tuple[str, ...]] = {
    **{
        a.aaf: (a.column, *_DERIVED_COLUMNS.get(a.aaf, ()))
        for attributes in ATTRIBUTES.values()
        for a in attributes
    },
    # typed columns named in `modified` by the contracts themselves
    "is_teacher": ("is_teacher", "profile"),
    "structure_type": ("structure_type", "type"),
}


@dataclass(frozen=True)
class Directory:
    """The parts of the directory a plan needs, read once (one query per table)."""

    school_year: str
    structures: pl.DataFrame  # structures rows
    users: pl.DataFrame  # feed people: external_id, source, login, USER_ATTRIBUTES, missing_since
    logins: pl.Series  # every login in use (local accounts of all sources)
    other_ids: pl.Series  # ids of the accounts not from the feeds (manual: never matched)
    feed_ids: pl.DataFrame  # feed_external_id, user_external_id (R1)
    structure_links: pl.DataFrame  # user_external_id, structure_uai, source, director
    class_links: pl.DataFrame  # the year's: user_external_id, class_external_id, source
    relations: pl.DataFrame  # student_external_id, relative_external_id
    classes: pl.DataFrame  # the year's classes rows
    groups: pl.DataFrame  # the year's scolarite groups: group_id
    group_members: pl.DataFrame  # members of the year's groups rentree manages

    # Derived once per plan: the diffs of each feed type ask for them again (a sort of the
    # region's 1.6 M school links each time otherwise).
    @cached_property
    def current_schools(self) -> pl.DataFrame:
        """external_id, structure_uai: each person's current school, their first link by
        source ("feed" before "manual") then UAI."""
        return (
            self.structure_links.sort("source", "structure_uai")
            .unique("user_external_id", keep="first")
            .select(pl.col("user_external_id").alias("external_id"), "structure_uai")
        )

    @cached_property
    def final_levels(self) -> pl.DataFrame:
        """structure_uai, final_level of every school (`final_levels`)."""
        return final_levels(self)


@dataclass
class Changes:
    """Frames collected kind by kind while planning."""

    parts: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    # feed type -> records refused while resolving identities (feed_id, rule), and the
    # accounts they are about (account_id: neither updated nor marked missing)
    refused: dict[str, pl.DataFrame] = field(default_factory=dict)
    spared: list[pl.DataFrame] = field(default_factory=list)

    def refuse(self, feed_type: str, records: pl.DataFrame, accounts: pl.DataFrame) -> None:
        if records.height:
            self.refused[feed_type] = records
        if accounts.height:
            self.spared.append(accounts.select("account_id"))

    def add(self, kind: str, frame: pl.DataFrame) -> None:
        if frame.height:
            self.parts.setdefault(kind, []).append(conform(kind, frame))

    def get(self, kind: str) -> pl.DataFrame:
        frames = self.parts.get(kind)
        if not frames:
            return empty_frame(kind)
        return pl.concat(frames, how="vertical").unique(maintain_order=True)


def modified_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """`modified` as column names of the typed frames (AAF attribute names are mapped)."""
    mapping = pl.DataFrame(
        {
            "attribute": [a for a, cols in AAF_COLUMNS.items() for _ in cols],
            "column": [c for cols in AAF_COLUMNS.values() for c in cols],
        }
    )
    exploded = (
        frame.select("feed_id", pl.col("modified").alias("attribute"))
        .explode("attribute")
        .drop_nulls("attribute")
        .join(mapping, on="attribute", how="left")
        .select("feed_id", pl.coalesce("column", "attribute").alias("column"))
    )
    lists = exploded.group_by("feed_id").agg(pl.col("column").unique().alias("modified"))
    return frame.drop("modified").join(lists, on="feed_id", how="left")


def touches(*columns: str) -> pl.Expr:
    """True for add records, and for modify records that replace one of the columns."""
    modified = pl.col("modified").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    touched = pl.lit(False)
    for column in columns:
        touched = touched | modified.list.contains(column)
    return (pl.col("operation") == "add") | ((pl.col("operation") == "modify") & touched)


@dataclass(frozen=True)
class MissingScope:
    """What decides the missing marks (R11) of a delivery's people, for every feed type."""

    complete: Mapping[str, bool]  # feed type -> a Complet file (absence marks missing)
    rejected: pl.DataFrame  # account_id of records validation rejected: never marked
    today: date  # the date of the marks
    schools: list[str] | None  # when given, only people of these schools are marked
    # in a region of several academies, a Complet is the picture of its own academy only:
    # only accounts whose id carries its prefix are marked missing by absence
    id_prefix: str | None = None

    def sparing(self, accounts: pl.DataFrame) -> MissingScope:
        """The same scope, with these accounts (account_id) never marked missing either."""
        if accounts.is_empty():
            return self
        rejected = pl.concat([self.rejected, accounts.select("account_id")]).unique()
        return MissingScope(self.complete, rejected, self.today, self.schools, self.id_prefix)


@dataclass(frozen=True)
class PeoplePlan:
    created: pl.DataFrame  # rows of new people (feed values), account_id
    updated: pl.DataFrame  # users_updated
    missing: pl.DataFrame  # users_missing
    back: pl.DataFrame  # users_back
    present: pl.DataFrame  # account_id of every record about an existing or new person

    def add_to(self, changes: Changes, created: pl.DataFrame) -> None:
        """Add the people's changes, with `created` as the users rows of the new ones."""
        changes.add("users_created", created)
        changes.add("users_updated", self.updated)
        changes.add("users_missing", self.missing)
        changes.add("users_back", self.back)

    def feed_accounts(self, identity: str, owned: Sequence[str], *extra: pl.Expr) -> pl.DataFrame:
        """The users rows of the new people: feed accounts signing in through `identity`,
        not activated, with their owned attributes and the `extra` columns."""
        return self.created.select(
            pl.col("account_id").alias("external_id"),
            pl.lit("feed").alias("source"),
            pl.lit(identity).alias("identity"),
            *owned,
            pl.lit("none").alias("activation_state"),
            *extra,
        )


def plan_people(
    rows: pl.DataFrame,
    directory: Directory,
    scope: MissingScope,
    feed_type: str,
    *,
    profiles: Sequence[str],
    owned: Sequence[str],
) -> PeoplePlan:
    """Creations, attribute updates, missing marks and returns for one type of people.

    `rows` are resolved records: account_id, operation, modified (column names) and the
    owned attributes (new values). Add records are the whole person; modify records replace
    only what they name; delete records and absence from a Complet file mark missing (R11).
    """
    rejected, today, schools = scope.rejected, scope.today, scope.schools
    current = directory.users.filter(pl.col("profile").is_in(list(profiles)))
    existing = rows.join(
        current.select(pl.col("external_id").alias("account_id")), on="account_id", how="semi"
    )
    created = rows.filter(pl.col("operation") == "add").join(
        existing.select("account_id"), on="account_id", how="anti"
    )
    alive = existing.filter(pl.col("operation") != "delete")
    updated = _attribute_updates(alive, current, owned)

    dated = current.filter(pl.col("missing_since").is_not_null())
    back = alive.join(
        dated.select(pl.col("external_id").alias("account_id")), on="account_id", how="semi"
    ).select(pl.col("account_id").alias("external_id"))

    gone = existing.filter(pl.col("operation") == "delete").select("account_id")
    if scope.complete.get(feed_type, False):
        absent = (
            current.filter(pl.col("source") == "feed")
            .select(pl.col("external_id").alias("account_id"))
            .join(rows.select("account_id"), on="account_id", how="anti")
            .join(rejected, on="account_id", how="anti")
        )
        if scope.id_prefix is not None:
            absent = absent.filter(pl.col("account_id").str.starts_with(scope.id_prefix))
        gone = pl.concat([gone, absent])
    missing = (
        gone.unique()
        .join(
            current.filter(pl.col("missing_since").is_null()).select(
                pl.col("external_id").alias("account_id"), "profile", "level"
            ),
            on="account_id",
            how="inner",
        )
        .rename({"account_id": "external_id"})
    )
    missing = _with_school(missing, directory)
    if schools is not None:
        missing = missing.filter(pl.col("structure_uai").is_in(list(schools)))
    missing = missing.with_columns(pl.lit(today).alias("missing_since"))
    back = _with_school(
        back.join(current.select("external_id", "profile"), on="external_id"), directory
    )
    present = rows.filter(pl.col("operation") != "delete").select("account_id")
    return PeoplePlan(created=created, updated=updated, missing=missing, back=back, present=present)


def _attribute_updates(
    records: pl.DataFrame, current: pl.DataFrame, owned: Sequence[str]
) -> pl.DataFrame:
    """users_updated rows: the new value of each owned attribute a record carries."""
    attributes = list(USER_ATTRIBUTES)
    base = current.select("external_id", *attributes)
    new_values = records.select(
        pl.col("account_id").alias("external_id"),
        "operation",
        "modified",
        *[pl.col(c).alias(f"{c}__new") for c in owned],
    )
    joined = base.join(new_values, on="external_id", how="inner")
    replace = {
        c: (pl.col("operation") == "add")
        | pl.col("modified").fill_null(pl.lit([], dtype=pl.List(pl.String))).list.contains(c)
        for c in owned
    }
    merged = joined.with_columns(
        pl.when(replace[c]).then(pl.col(f"{c}__new")).otherwise(pl.col(c)).alias(f"{c}__after")
        for c in owned
    )
    changed_flags = [pl.col(f"{c}__after").ne_missing(pl.col(c)) for c in owned]
    merged = merged.with_columns(
        pl.concat_list(
            pl.when(flag).then(pl.lit(c)).otherwise(pl.lit(None, dtype=pl.String))
            for c, flag in zip(owned, changed_flags, strict=True)
        )
        .list.drop_nulls()
        .alias("changed")
    ).filter(pl.col("changed").list.len() > 0)
    before = pl.struct(
        [
            pl.when(flag).then(pl.col(c)).alias(c)
            for c, flag in zip(owned, changed_flags, strict=True)
        ]
    ).struct.json_encode()
    return merged.select(
        "external_id",
        "changed",
        *[(pl.col(f"{c}__after") if c in owned else pl.col(c)).alias(c) for c in attributes],
        before.alias("before"),
    )


def _with_school(people: pl.DataFrame, directory: Directory) -> pl.DataFrame:
    """Add the person's current school (their first feed link) and whether they are an
    expected leaver: a student whose level is the final level of that school."""
    out = people.join(directory.current_schools, on="external_id", how="left").join(
        directory.final_levels, on="structure_uai", how="left"
    )
    level = pl.col("level") if "level" in out.columns else pl.lit(None, dtype=pl.String)
    return out.with_columns(
        ((pl.col("profile") == "Student") & level.eq_missing(pl.col("final_level")))
        .fill_null(False)
        .alias("expected_leaver")
    )


def final_levels(directory: Directory) -> pl.DataFrame:
    """structure_uai, final_level: GS in a maternelle, CM2 in an élémentaire or primaire; in
    an RPI school, the highest level of its pupils now (a level-1 school ends before CM2)."""
    finals = pl.DataFrame(
        {"type": list(FINAL_LEVEL_OF_TYPE), "by_type": list(FINAL_LEVEL_OF_TYPE.values())}
    )
    rank = {level: i for i, level in enumerate(LEVELS)}
    highest = (
        directory.users.filter((pl.col("profile") == "Student") & pl.col("level").is_not_null())
        .select(pl.col("external_id").alias("user_external_id"), "level")
        .join(directory.structure_links.filter(pl.col("source") == "feed"), on="user_external_id")
        .with_columns(pl.col("level").replace_strict(rank, default=-1).alias("rank"))
        .sort("rank")
        .group_by("structure_uai")
        .agg(pl.col("level").last().alias("highest"))
    )
    return (
        directory.structures.select(pl.col("uai").alias("structure_uai"), "type", "rpi")
        .join(finals, on="type", how="left")
        .join(highest, on="structure_uai", how="left")
        .select(
            "structure_uai",
            pl.when(pl.col("rpi").is_not_null() & pl.col("highest").is_not_null())
            .then(pl.col("highest"))
            .otherwise(pl.col("by_type"))
            .alias("final_level"),
        )
    )


def links_of(links: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """The links of the accounts the records are about (their `account_id`)."""
    accounts = records.select(pl.col("account_id").alias("user_external_id"))
    return links.join(accounts, on="user_external_id", how="semi")


def diff_links(
    target: pl.DataFrame, current: pl.DataFrame, keys: Sequence[str], compare: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(made, cut): rows of `target` not in `current`, and rows of `current` not in `target`,
    comparing `keys` plus `compare` (a changed compared value is a cut then a make)."""
    on = [*keys, *compare]
    made = target.unique(on).join(current.select(on), on=on, how="anti", nulls_equal=True)
    cut = current.unique(on).join(target.select(on), on=on, how="anti", nulls_equal=True)
    return made, cut


def diff_school_links(
    target: pl.DataFrame,
    current: pl.DataFrame,
    changes: Changes,
    compare: Sequence[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add the feed school links made and cut to reach `target` from `current` (the people's
    links of every source); a link made by hand stays and gets no feed twin. Returns them."""
    keys = ["user_external_id", "structure_uai"]
    made, cut = diff_links(target, current.filter(pl.col("source") == "feed"), keys, compare)
    manual = current.filter(pl.col("source") != "feed").select(keys)
    made = made.join(manual, on=keys, how="anti")
    changes.add("structure_links_made", made)
    changes.add("structure_links_cut", cut)
    return made, cut
