"""The checks beyond the contract: repeated keys, references, the directory's own rules."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rentree.contracts.content import (
    MEMBER_KINDS,
    PROBLEMS_SCHEMA,
    RECIPIENT_KINDS,
    empty_problems,
    primary_key,
)
from rentree.tasks.content.inventory.known import DirectoryIds, id_frame
from rentree.tasks.sync.accounts import complete_local_accounts


@dataclass(frozen=True)
class Reference:
    """A column naming something that must exist; `kind_column` says which kind when the
    column may name several (`kinds`)."""

    column: str
    kinds: tuple[str, ...]
    label: str
    kind_column: str | None = None


REFERENCES: dict[str, tuple[Reference, ...]] = {
    "user_structures": (
        Reference("user_external_id", ("user",), "user"),
        Reference("structure_uai", ("structure",), "school"),
    ),
    "groups": (Reference("owner_external_id", ("user",), "owner"),),
    "group_members": (
        Reference("group_id", ("group",), "group"),
        Reference("user_external_id", ("user",), "user"),
    ),
    "bookmarks": (Reference("owner_external_id", ("user",), "owner"),),
    "bookmark_members": (
        Reference("bookmark_id", ("bookmark",), "bookmark"),
        Reference("member_id", MEMBER_KINDS, "member", kind_column="member_kind"),
    ),
    "resources": (Reference("owner_external_id", ("user",), "owner"),),
    "shares": (
        Reference("resource_id", ("resource",), "resource"),
        Reference("recipient_id", RECIPIENT_KINDS, "recipient", kind_column="recipient_kind"),
    ),
}

# What an accepted row of a table brings for the next tables to name.
PROVIDES: dict[str, tuple[str, str]] = {
    "users": ("user", "external_id"),
    "groups": ("group", "group_id"),
    "bookmarks": ("bookmark", "bookmark_id"),
    "resources": ("resource", "resource_id"),
}


def _problems(frame: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    return frame.select("row", reason.alias("reason")).cast(PROBLEMS_SCHEMA)  # type: ignore[arg-type]


def duplicate_problems(name: str, frame: pl.DataFrame, provided: tuple[str, ...]) -> pl.DataFrame:
    """Keys given more than once: identical copies after the first, or every differing one."""
    key = primary_key(name)
    values = [c for c in provided if c not in key] or key
    marked = frame.with_columns(
        pl.len().over(key).alias("_copies"),
        pl.col("row").min().over(key).alias("_first"),
        pl.struct(values).hash().n_unique().over(key).alias("_versions"),
        pl.col("row").cast(pl.String).str.join(", ").over(key).alias("_rows"),
    ).filter(pl.col("_copies") > 1)
    label = pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=" / ")
    conflicting = marked.filter(pl.col("_versions") > 1)
    repeated = marked.filter((pl.col("_versions") == 1) & (pl.col("row") != pl.col("_first")))
    return pl.concat(
        [
            _problems(
                conflicting,
                pl.format(
                    "{} {} appears on rows {} with different values; keep one",
                    pl.lit(" / ".join(key)),
                    label,
                    pl.col("_rows"),
                ),
            ),
            _problems(
                repeated,
                pl.format("{} repeats row {}; the copy is skipped", label, pl.col("_first")),
            ),
        ]
    )


def reference_problems(name: str, frame: pl.DataFrame, known: DirectoryIds) -> pl.DataFrame:
    """Rows naming a user, school, group, bookmark or resource that does not exist."""
    parts: list[pl.DataFrame] = []
    for ref in REFERENCES.get(name, ()):
        named = frame.filter(pl.col(ref.column).is_not_null())
        if ref.kind_column is None:
            (kind,) = ref.kinds
            existing = known.ids[kind].rename({"id": ref.column})
            missing = named.join(existing, on=ref.column, how="anti")
            rejected = known.rejected.get(kind, id_frame(None))
            kind_expr = pl.lit(kind)
            was_rejected = pl.col(ref.column).is_in(rejected["id"].implode())
        else:
            existing = pl.concat(
                [
                    known.ids[k].select(pl.lit(k).alias(ref.kind_column), pl.col("id"))
                    for k in ref.kinds
                ]
            ).rename({"id": ref.column})
            missing = named.join(existing, on=[ref.kind_column, ref.column], how="anti")
            rejected = pl.concat(
                [
                    known.rejected[k].select(pl.lit(k).alias("k"), pl.col("id"))
                    for k in ref.kinds
                    if k in known.rejected
                ]
                or [pl.DataFrame(schema={"k": pl.String, "id": pl.String})]
            )
            kind_expr = pl.col(ref.kind_column)
            was_rejected = pl.concat_str(
                [pl.col(ref.kind_column), pl.col(ref.column)], separator="\x1f"
            ).is_in(
                rejected.select(pl.concat_str(["k", "id"], separator="\x1f")).to_series().implode()
            )
        parts.append(
            _problems(
                missing,
                pl.when(was_rejected)
                .then(
                    pl.format(
                        "{} {} was rejected earlier in this import", kind_expr, pl.col(ref.column)
                    )
                )
                .otherwise(
                    pl.format(
                        "unknown {} {}: no such {} in the directory or the inventory",
                        pl.lit(ref.label),
                        pl.col(ref.column),
                        kind_expr,
                    )
                ),
            )
        )
    return pl.concat(parts) if parts else empty_problems()


# What an inventory row about a scolarité group (made by rentree from the feeds) is told.
_SCOLARITE_REFUSED = {
    "groups": "group id {} is a scolarité group made by rentree; give the manual group its own id",
    "group_members": "members of scolarité group {} come from the feeds; only manual groups get "
    "members from the inventory",
}


def _of_scolarite_groups(frame: pl.DataFrame, known: DirectoryIds) -> pl.DataFrame:
    """The rows naming a group rentree made from the feeds (kind scolarite)."""
    made = known.groups.filter(pl.col("kind") != "manual").select("group_id")
    return frame.join(made, on="group_id", how="semi")


def directory_problems(name: str, frame: pl.DataFrame, known: DirectoryIds) -> pl.DataFrame:
    """Rows that would overwrite what the feeds own, or take what belongs to someone else."""
    if name == "users":
        feed_owned = frame.join(
            known.users.filter(
                (pl.col("profile") != "Guest") | (pl.col("source") != "manual")
            ).select("external_id", pl.col("profile").alias("_profile")),
            on="external_id",
            how="inner",
        )
        taken = frame.join(
            known.users.select(pl.col("login"), pl.col("external_id").alias("_holder")),
            on="login",
            how="inner",
        ).filter(pl.col("_holder") != pl.col("external_id"))
        shared = frame.filter(pl.col("login").is_not_null() & (pl.len().over("login") > 1))
        return pl.concat(
            [
                _problems(
                    feed_owned,
                    pl.format(
                        "external id {} is a {} account from the feeds; "
                        "the inventory cannot change it",
                        pl.col("external_id"),
                        pl.col("_profile"),
                    ),
                ),
                _problems(
                    taken,
                    pl.format(
                        "login {} is already the login of {}; give another login",
                        pl.col("login"),
                        pl.col("_holder"),
                    ),
                ),
                _problems(
                    shared,
                    pl.format(
                        "login {} is given to several accounts of the inventory; give each its own",
                        pl.col("login"),
                    ),
                ),
            ]
        )
    if name in _SCOLARITE_REFUSED:
        scolarite = _of_scolarite_groups(frame, known)
        return _problems(scolarite, pl.format(_SCOLARITE_REFUSED[name], pl.col("group_id")))
    return empty_problems()


def with_logins(guests: pl.DataFrame, known: DirectoryIds) -> pl.DataFrame:
    """Guest rows without a login: an account already in the directory keeps its login; a
    new one gets a generated login and an activation code, as new pupils do (R2, R3)."""
    if "login" not in guests.columns or guests["login"].null_count() == 0:
        return guests
    current = known.users.select("external_id", pl.col("login").alias("_current"))
    kept = guests.join(current, on="external_id", how="left").with_columns(
        pl.coalesce("login", "_current").alias("login")
    )
    completed = complete_local_accounts(kept.drop("_current"), known.users["login"].drop_nulls())
    return completed.select(
        [c for c in guests.columns if c not in ("activation_code", "activation_state")]
        + ["activation_code", "activation_state"]
    )
