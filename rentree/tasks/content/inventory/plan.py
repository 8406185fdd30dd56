"""The plan: what importing the inventory would do, table by table (reads only)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, and_, select

from rentree.contracts.content import (
    INVENTORY_TABLES,
    check_contract,
    empty_problems,
    polars_schema,
    primary_key,
    table,
)
from rentree.infra.frames import select_frame
from rentree.infra.staging import staging_table
from rentree.tasks.content.inventory.checks import (
    PROVIDES,
    directory_problems,
    duplicate_problems,
    reference_problems,
    with_logins,
)
from rentree.tasks.content.inventory.known import DirectoryIds, read_known_ids
from rentree.tasks.content.inventory.read import InventoryFile

PURGED_SCHEMA = {"row": pl.Int64, "id": pl.String, "run_id": pl.String, "reason": pl.String}
_COMPOUND_KEY_SEPARATOR = " / "


@dataclass(frozen=True)
class TablePlan:
    table: str
    file: str
    rows: int
    provided: tuple[str, ...]
    new: pl.DataFrame
    changed: pl.DataFrame
    unchanged: int
    rejects: pl.DataFrame  # table, row, id, reason
    purged: pl.DataFrame  # shares only: rows a share purge removed, skipped (PURGED_SCHEMA)
    ignored: tuple[str, ...]

    @property
    def rejected(self) -> int:
        return self.rejects.height


@dataclass(frozen=True)
class ContentPlan:
    tables: tuple[TablePlan, ...]

    @property
    def rejects(self) -> pl.DataFrame:
        frames = [t.rejects for t in self.tables]
        return pl.concat(frames) if frames else _rejects_frame(empty_problems(), "", [])

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)


def _rejects_frame(problems: pl.DataFrame, name: str, key_values: list[pl.Series]) -> pl.DataFrame:
    return problems.select(
        pl.lit(name).alias("table"),
        "row",
        (
            pl.concat_str(key_values, separator=_COMPOUND_KEY_SEPARATOR, ignore_nulls=True)
            if key_values
            else pl.lit("")
        ).alias("id"),
        "reason",
    )


def _first_reason_per_row(problems: pl.DataFrame) -> pl.DataFrame:
    return problems.unique("row", keep="first", maintain_order=True)


def _existing_rows(conn: Connection, name: str, keys: pl.DataFrame) -> pl.DataFrame:
    """The directory's rows with the given keys (one join through a staging table)."""
    tbl = table(name)
    dtypes = polars_schema(name)
    # A first import meets an empty table: no need to stage millions of keys to learn it.
    if keys.is_empty() or conn.execute(select(tbl).limit(1)).first() is None:
        return pl.DataFrame(schema=dtypes)
    key = list(keys.columns)
    staged = staging_table(conn, f"content_{name}", keys, key)
    statement = select(*(tbl.c[c] for c in dtypes)).join(
        staged, and_(*(tbl.c[k] == staged.c[k] for k in key))
    )
    return select_frame(conn, statement, dtypes)


def _split_new_and_changed(
    conn: Connection, name: str, accepted: pl.DataFrame, provided: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    key = primary_key(name)
    existing = _existing_rows(conn, name, accepted.select(key))
    new = accepted.join(existing.select(key), on=key, how="anti")
    present = accepted.join(existing.select(key), on=key, how="semi")
    compared = [c for c in provided if c not in key]
    if name == "user_structures" or not compared or present.is_empty():
        return new, present.clear(), present.height
    joined = present.join(existing.select(key + compared), on=key, suffix="_now")
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_now")) for c in compared)
    changed = joined.filter(differs).select(present.columns)
    return new, changed, present.height - changed.height


def plan_table(conn: Connection, inventory: InventoryFile, known: DirectoryIds) -> TablePlan:
    """Check one table against its contract, itself and the directory; split what is left
    into new rows and changed rows. Accepted ids are added to `known` for the next tables."""
    name = inventory.table
    key = primary_key(name)
    typed, contract = check_contract(name, inventory.frame)
    problems = _first_reason_per_row(contract)
    stages = (
        lambda good: duplicate_problems(name, good, inventory.provided),
        lambda good: reference_problems(name, good, known),
        lambda good: directory_problems(name, good, known),
    )
    good = typed.join(problems.select("row"), on="row", how="anti")
    for stage in stages:
        found = _first_reason_per_row(stage(good))
        problems = pl.concat([problems, found])
        good = good.join(found.select("row"), on="row", how="anti")
    problems = problems.sort("row")
    if name == "users":
        good = with_logins(good, known)
    rejected_rows = typed.join(problems.select("row"), on="row", how="semi").sort("row")
    if name in PROVIDES:
        kind, id_column = PROVIDES[name]
        known.add(kind, good[id_column], rejected_rows[id_column].drop_nulls())
        if name == "users":
            known.users = pl.concat(
                [known.users, good.select(known.users.columns)], how="vertical_relaxed"
            )
        if name == "groups":
            known.groups = pl.concat(
                [known.groups, good.select(known.groups.columns)], how="vertical_relaxed"
            )
    raw_keys = problems.join(
        inventory.frame.select(
            "row", *(pl.col(k).cast(pl.String) for k in key if k in inventory.frame.columns)
        ),
        on="row",
        how="left",
    )
    rejects = _rejects_frame(raw_keys, name, [raw_keys[k] for k in key if k in raw_keys.columns])
    new, changed, unchanged = _split_new_and_changed(
        conn, name, good.drop("row"), inventory.provided
    )
    purged = pl.DataFrame(schema=PURGED_SCHEMA)
    if name == "shares" and not known.purged_shares.is_empty():
        purged = (
            good.join(known.purged_shares, on=key, how="inner")
            .join(new.select(key), on=key, how="semi")
            .select(
                "row",
                pl.concat_str([pl.col(k) for k in key], separator=_COMPOUND_KEY_SEPARATOR).alias(
                    "id"
                ),
                "run_id",
                pl.format(
                    "removed by the share purge run {} (R5); not brought back unless that "
                    "purge is undone",
                    pl.col("run_id"),
                ).alias("reason"),
            )
            .sort("row")
        )
        new = new.join(known.purged_shares.select(key), on=key, how="anti")
    return TablePlan(
        table=name,
        file=str(inventory.path),
        rows=inventory.frame.height,
        provided=inventory.provided,
        new=new,
        changed=changed,
        unchanged=unchanged,
        rejects=rejects,
        purged=purged.cast(PURGED_SCHEMA),  # type: ignore[arg-type]
        ignored=inventory.ignored,
    )


def plan_content_import(conn: Connection, inventory: list[InventoryFile]) -> ContentPlan:
    """What importing the inventory would do; reads the directory, changes nothing in it."""
    known = read_known_ids(conn)
    order = {name: i for i, name in enumerate(INVENTORY_TABLES)}
    files = sorted(inventory, key=lambda f: order[f.table])
    return ContentPlan(tables=tuple(plan_table(conn, f, known) for f in files))
