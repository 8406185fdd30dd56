"""The logins a Delta's new pupils could collide with (R3), asked of the database for just
those candidates instead of reading every login of the region (`accounts.assign_logins`
numbers a base's logins `base`, `base2`, `base3`...)."""

from __future__ import annotations

import polars as pl
from sqlalchemy import Connection, select

from rentree.infra.frames import select_frame
from rentree.infra.schema import users
from rentree.infra.staging import staging_table
from rentree.tasks.sync.accounts import base_login

# candidate numbers asked per login base in the first round: the delivery's new people of
# that base plus this margin; a base whose candidates are all taken is asked again, doubled
_LOGIN_MARGIN = 8


def new_login_bases(pupils: pl.DataFrame | None) -> pl.DataFrame:
    """base, new: the login bases of the pupils the delivery adds, and how many share each."""
    if pupils is None:
        return pl.DataFrame(schema={"base": pl.String, "new": pl.Int64})
    return (
        pupils.filter(pl.col("operation") == "add")
        .select(base_login(pl.col("first_name"), pl.col("last_name")).alias("base"))
        .group_by("base")
        .agg(pl.len().cast(pl.Int64).alias("new"))
    )


def taken_logins(conn: Connection, bases: pl.DataFrame) -> pl.Series:
    """The logins in use that new logins of these bases could collide with (R3): `base`
    (or `base1`), `base2`... up to a number below which each base has `new` free numbers,
    asked in rounds of candidates through a staging table (`accounts.assign_logins`)."""
    found: list[pl.DataFrame] = [pl.DataFrame(schema={"login": pl.String})]
    pending = bases.select(
        "base",
        "new",
        pl.lit(1, dtype=pl.Int64).alias("start"),
        (pl.col("new") + _LOGIN_MARGIN).alias("stop"),
        pl.lit(0, dtype=pl.Int64).alias("used"),
    )
    while pending.height:
        numbered = pending.select(
            "base", pl.int_ranges("start", pl.col("stop") + 1, dtype=pl.Int64).alias("n")
        ).explode("n")
        candidates = pl.concat(
            [
                numbered.select(
                    "base",
                    "n",
                    pl.when(pl.col("n") == 1)
                    .then(pl.col("base"))
                    .otherwise(pl.col("base") + pl.col("n").cast(pl.String))
                    .alias("login"),
                ),
                # `base1` holds number 1, as the base itself does
                numbered.filter(pl.col("n") == 1).select(
                    "base", "n", (pl.col("base") + pl.lit("1")).alias("login")
                ),
            ]
        )
        asked = staging_table(conn, "delta_logins", candidates.select("login"), ["login"])
        taken = select_frame(
            conn,
            select(users.c.login).join(asked, asked.c.login == users.c.login),
            {"login": pl.String},
        )
        found.append(taken)
        used = (
            candidates.join(taken, on="login", how="semi")
            .unique(["base", "n"])
            .group_by("base")
            .agg(pl.len().cast(pl.Int64).alias("more"))
        )
        pending = (
            pending.join(used, on="base", how="left")
            .with_columns((pl.col("used") + pl.col("more").fill_null(0)).alias("used"))
            .drop("more")
            # fewer than `new` free numbers up to `stop`: ask the next ones
            .filter(pl.col("stop") - pl.col("used") < pl.col("new"))
            .with_columns((pl.col("stop") + 1).alias("start"), (pl.col("stop") * 2).alias("stop"))
        )
    return pl.concat(found)["login"].unique()
