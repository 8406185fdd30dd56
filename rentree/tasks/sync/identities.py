"""Identity continuity (R1): which directory account each feed record is about.

A record is matched on the feed's stable id first (the account's own id, then a feed id an
earlier delivery linked to it), then, for students, on the INE. An account keeps its
`external_id` for ever; a student found by INE under a new feed id gets an identity link
(`user_feed_ids`), which later deliveries resolve first.

Whatever the delivery's position (first or later, Complet or Delta), a record that cannot be
matched without creating a duplicate or merging two people is refused with its rule, for the
validation report, and its account is neither updated nor marked missing:
- `id_of_another_account`: its feed id is already the id of an account of another profile or
  of a manual account (a new account under that id would collide with it);
- `ine_of_another_account`: the record keeps its account by feed id but carries the INE of
  another account;
- `ine_moved`: an INE moved between two ids of the same delivery (a new id carries the INE of
  an account whose own id is also in the delivery, with another INE): both are refused;
- `same_account_twice`: two records of the delivery are the same account (its own id and a
  linked one): both are refused.
A delete record about an account that another record of the delivery names alive is dropped:
the person is present (a Delta re-registration: the old id deleted, the new one added). A
modify or delete record of an id no account holds is dropped too: it names nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from rentree.contracts.base import empty_failures, failures_at
from rentree.tasks.intake.validate import report_rows
from rentree.tasks.sync.changeset import SCHEMAS
from rentree.tasks.sync.diff_common import Changes, Directory, MissingScope

REFUSED_SCHEMA = {"feed_id": pl.String, "rule": pl.String}
IDENTITY_RULES = (
    "id_of_another_account",
    "ine_of_another_account",
    "ine_moved",
    "same_account_twice",
)


@dataclass(frozen=True)
class Resolution:
    """Records with their `account_id`, the identity links found by INE, and the records
    refused (feed_id, rule) with the accounts they are about (never marked missing)."""

    rows: pl.DataFrame
    linked: pl.DataFrame
    refused: pl.DataFrame
    protected: pl.DataFrame  # account_id


def resolve(
    rows: pl.DataFrame,
    directory: Directory,
    profiles: Sequence[str],
    feed_type: str,
    changes: Changes,
    scope: MissingScope,
    *,
    by_ine: bool,
) -> tuple[pl.DataFrame, MissingScope]:
    """Resolve the records of one feed type: adds the identity links and the refusals to
    `changes`; returns the records kept (with `account_id`) and the scope that also spares
    the refused records' accounts from missing marks."""
    found = resolve_accounts(rows, directory, profiles, by_ine=by_ine)
    changes.add("identities_linked", found.linked)
    changes.refuse(feed_type, found.refused, found.protected)
    return found.rows, scope.sparing(found.protected)


def resolve_accounts(
    rows: pl.DataFrame, directory: Directory, profiles: Sequence[str], *, by_ine: bool
) -> Resolution:
    """Match each record (feed_id, operation, modified, and `ine` when `by_ine`) to an account
    of one of `profiles` (see the module docstring)."""
    users, feed_ids, other_ids = directory.users, directory.feed_ids, directory.other_ids
    own = users.filter(pl.col("profile").is_in(list(profiles)))
    own_ids = own.select(pl.col("external_id").alias("account_id"))
    foreign = pl.concat(
        [
            users.filter(~pl.col("profile").is_in(list(profiles))).select(
                pl.col("external_id").alias("feed_id")
            ),
            pl.DataFrame({"feed_id": other_ids.cast(pl.String)}),
        ]
    ).unique()
    aliases = (
        feed_ids.select(
            pl.col("feed_external_id").alias("feed_id"),
            pl.col("user_external_id").alias("account_id"),
        )
        .join(own_ids, on="account_id", how="semi")
        .unique("feed_id", keep="first")
    )
    rows = rows.with_row_index("_record")
    direct = rows.join(own_ids, left_on="feed_id", right_on="account_id", how="semi").with_columns(
        pl.col("feed_id").alias("account_id")
    )
    rest = rows.join(direct.select("_record"), on="_record", how="anti")
    aliased = rest.join(aliases, on="feed_id", how="inner")
    rest = rest.join(aliased.select("_record"), on="_record", how="anti")
    clashing = rest.join(foreign, on="feed_id", how="semi")
    rest = rest.join(clashing.select("_record"), on="_record", how="anti")
    known = pl.concat([direct, aliased], how="vertical_relaxed")

    refusals = [clashing.select("_record", pl.lit("id_of_another_account").alias("rule"))]
    by_ine_rows = rest.clear().with_columns(pl.lit(None, dtype=pl.String).alias("account_id"))
    if by_ine:
        holders = (
            own.filter(pl.col("ine").is_not_null())
            .sort("external_id")
            .unique("ine", keep="first")
            .select(pl.col("external_id").alias("holder"), "ine")
        )
        alive = known.filter(pl.col("operation") != "delete")
        # a known record carrying the INE of another account
        carrying = alive.filter(_carries_ine()).join(holders, on="ine", how="inner")
        foreign_ine = carrying.filter(pl.col("holder") != pl.col("account_id"))
        refusals.append(foreign_ine.select("_record", pl.lit("ine_of_another_account")))
        # a new id carrying the INE of an account
        by_ine_rows = (
            rest.filter((pl.col("operation") == "add") & pl.col("ine").is_not_null())
            .join(holders, on="ine", how="inner")
            .with_columns(pl.col("holder").alias("account_id"))
            .drop("holder")
        )
        rest = rest.join(by_ine_rows.select("_record"), on="_record", how="anti")
        # the INE's account is also named alive by its own id, carrying another INE: moved
        moved = by_ine_rows.join(
            alive.select("account_id", pl.col("_record").alias("_other")),
            on="account_id",
            how="inner",
        )
        holders_named = foreign_ine.select(pl.col("holder").alias("account_id")).join(
            alive.select("account_id", pl.col("_record").alias("_other")),
            on="account_id",
            how="inner",
        )
        refusals += [
            moved.select("_record", pl.lit("ine_moved")),
            moved.select(pl.col("_other").alias("_record"), pl.lit("ine_moved")),
            holders_named.select(pl.col("_other").alias("_record"), pl.lit("ine_moved")),
        ]
        by_ine_rows = by_ine_rows.join(moved.select("_record"), on="_record", how="anti")

    matched = pl.concat([known, by_ine_rows], how="vertical_relaxed")
    alive = matched.filter(pl.col("operation") != "delete")
    twice = alive.filter(pl.col("account_id").len().over("account_id") > 1)
    refusals.append(twice.select("_record", pl.lit("same_account_twice")))
    # one rule per record: the first that applies in IDENTITY_RULES order, `ine_moved` first
    priority = {rule: i for i, rule in enumerate(("ine_moved", *IDENTITY_RULES))}
    refused_records = (
        pl.concat([r.rename({r.columns[1]: "rule"}) for r in refusals], how="vertical_relaxed")
        .with_columns(pl.col("rule").replace_strict(priority, return_dtype=pl.Int64).alias("_p"))
        .sort("_record", "_p")
        .unique("_record", keep="first", maintain_order=True)
        .drop("_p")
    )
    # a delete of an account named alive by another record: the person is present
    named_alive = alive.select("account_id").unique()
    dropped_deletes = matched.filter(pl.col("operation") == "delete").join(
        named_alive, on="account_id", how="semi"
    )
    kept = matched.join(refused_records, on="_record", how="anti").join(
        dropped_deletes.select("_record"), on="_record", how="anti"
    )
    linked = kept.filter(pl.col("feed_id") != pl.col("account_id"))
    linked = linked.join(aliased.select("_record"), on="_record", how="anti").select(
        pl.col("feed_id").alias("feed_external_id"),
        pl.col("account_id").alias("user_external_id"),
    )
    # an id nobody holds is a new person only in an add record: a modify or delete of it
    # names nobody (it must make no link of a person that does not exist)
    fresh = rest.filter(pl.col("operation") == "add").with_columns(
        pl.col("feed_id").alias("account_id")
    )
    resolved = pl.concat([kept, fresh], how="vertical_relaxed").sort("_record")
    refused_rows = rows.join(refused_records, on="_record", how="inner").sort("_record")
    protected = pl.concat(
        [
            matched.join(refused_records, on="_record", how="semi").select("account_id"),
            carrying_holders(matched, refused_records, own, by_ine),
        ]
    ).unique()
    return Resolution(
        rows=resolved.select([*[c for c in rows.columns if c != "_record"], "account_id"]),
        linked=linked.cast(SCHEMAS["identities_linked"]),  # type: ignore[arg-type]
        refused=refused_rows.select("feed_id", "rule").cast(REFUSED_SCHEMA),  # type: ignore[arg-type]
        protected=protected,
    )


def carrying_holders(
    matched: pl.DataFrame, refused: pl.DataFrame, own: pl.DataFrame, by_ine: bool
) -> pl.DataFrame:
    """The accounts whose INE a refused record carries: they stay as they are too."""
    if not by_ine or "ine" not in matched.columns:
        return pl.DataFrame(schema={"account_id": pl.String})
    carried = matched.join(refused, on="_record", how="semi").select("ine").drop_nulls()
    return (
        own.filter(pl.col("ine").is_not_null())
        .join(carried, on="ine", how="semi")
        .select(pl.col("external_id").alias("account_id"))
    )


def _carries_ine() -> pl.Expr:
    """The record states an INE: an add, or a modify that replaces it."""
    modified = pl.col("modified").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    return pl.col("ine").is_not_null() & (
        (pl.col("operation") == "add")
        | ((pl.col("operation") == "modify") & modified.list.contains("ine"))
    )


# the column a refusal is about: the INE for the INE rules, the feed id otherwise
_RULE_COLUMN = {"ine_of_another_account": "ine", "ine_moved": "ine"}


def refusal_report(
    frames: Mapping[str, pl.DataFrame], refused: Mapping[str, pl.DataFrame]
) -> pl.DataFrame:
    """Validation report rows (severity record) for the records refused by `resolve`."""
    found: list[pl.DataFrame] = []
    for feed_type, records in refused.items():
        frame = frames[feed_type].with_row_index("_row")
        if "line" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("line"))
        for rule, group in records.group_by("rule"):
            index = frame.join(
                group.select(pl.col("feed_id").alias("external_id")), on="external_id", how="semi"
            )["_row"]
            column = _RULE_COLUMN.get(str(rule[0]), "external_id")
            found.append(failures_at(frame, feed_type, index, column, str(rule[0]), "record"))  # type: ignore[arg-type]
    failures = pl.concat(found) if found else empty_failures()
    return report_rows(failures.sort("file", "position"))


def resolve_ids(ids: pl.DataFrame, column: str, directory: Directory) -> pl.DataFrame:
    """Map a column of feed ids to account ids through the recorded feed ids (R1)."""
    aliases = directory.feed_ids.rename({"feed_external_id": column})
    return (
        ids.join(aliases, on=column, how="left")
        .with_columns(pl.coalesce("user_external_id", column).alias(column))
        .drop("user_external_id")
    )
