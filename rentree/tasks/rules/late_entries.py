"""R12: the late-entry watch ("premières classes" en attente d'INE).

A school's entry levels are, from last year's classes of that school:
- maternelle and primaire: TPS and PS, each one that was present last year (schools take
  their youngest pupils in either, and either can wait for its INEs);
- élémentaire: CP, or CE2 for an RPI level-2 school (in an RPI, lowest level last year CE2).
It is late when it existed last year and no present pupil of the school has it this year.
Only schools that already have pupils this year are watched: a school with no pupil at all
has not been imported yet, it is not late on one level. An entry is resolved (resolved_at)
as soon as pupils of that level arrive, and listed again if they all leave.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, select, update

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.db import cross_join, insert_frame
from rentree.infra.frames import read_frame
from rentree.infra.naming import previous_school_year
from rentree.infra.schema import classes, late_entries, structures, user_classes, users
from rentree.infra.staging import staging_table

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
_KEY = ["structure_uai", "level"]
_LEVELS_SCHEMA = {"structure_uai": pl.String, "level": pl.String}


def entry_levels(conn: Connection, year: str) -> pl.DataFrame:
    """Each school's entry levels that it had last year: structure_uai, level."""
    c, s = classes.c, structures.c
    last_year = read_frame(
        conn,
        select(c.structure_uai, c.levels, s.type, s.rpi)
        .join_from(classes, structures, s.uai == c.structure_uai)
        .where(c.school_year == previous_school_year(year)),
        schema_overrides={
            "structure_uai": pl.String,
            "levels": pl.String,
            "type": pl.String,
            "rpi": pl.String,
        },
    )
    if last_year.is_empty():
        return pl.DataFrame(schema={"structure_uai": pl.String, "level": pl.String})
    levels = (
        last_year.with_columns(pl.col("levels").str.split(","))
        .explode("levels")
        .with_columns(pl.col("levels").str.strip_chars().alias("level"))
        .filter(pl.col("level").is_in(LEVELS))
        .with_columns(pl.col("level").replace_strict(_RANK, return_dtype=pl.Int64).alias("rank"))
    )
    lowest = levels.group_by("structure_uai").agg(pl.col("rank").min().alias("lowest"))
    present = levels.unique(["structure_uai", "level"]).join(lowest, on="structure_uai")
    elementaire = pl.col("type") == "elementaire"
    rpi_level_2 = elementaire & pl.col("rpi").is_not_null() & (pl.col("lowest") == _RANK["CE2"])
    entry = present.filter(
        (pl.col("type").is_in(["maternelle", "primaire"]) & pl.col("level").is_in(["TPS", "PS"]))
        | (elementaire & (pl.col("level") == "CP"))
        | (rpi_level_2 & (pl.col("level") == "CE2"))
    )
    return entry.select(_KEY).sort(_KEY)


def late_entry_watch(conn: Connection, year: str, now: datetime) -> pl.DataFrame:
    """Update the year's watch list (R12) and return its open entries."""
    expected = entry_levels(conn, year)
    present = read_frame(conn, _present_levels(year), schema_overrides=_LEVELS_SCHEMA)
    if present.is_empty():
        present = pl.DataFrame(schema=_LEVELS_SCHEMA)
    watched = expected.join(present.select("structure_uai").unique(), on="structure_uai")
    late = watched.join(present, on=_KEY, how="anti")
    e = late_entries.c
    known = read_frame(
        conn,
        select(e.structure_uai, e.level, e.resolved_at).where(e.school_year == year),
        schema_overrides=_LEVELS_SCHEMA,
    )
    if known.is_empty():
        known = pl.DataFrame(
            schema={"structure_uai": pl.String, "level": pl.String, "resolved_at": pl.Datetime}
        )
    new = late.join(known, on=_KEY, how="anti")
    insert_frame(
        conn,
        late_entries,
        new.with_columns(pl.lit(year).alias("school_year"), pl.lit(now).alias("detected_at")),
    )
    still = late.join(known.filter(pl.col("resolved_at").is_not_null()), on=_KEY, how="semi")
    arrived = known.filter(pl.col("resolved_at").is_null()).join(late, on=_KEY, how="anti")
    _set_resolved(conn, year, still, None)
    _set_resolved(conn, year, arrived, now)
    return open_late_entries(conn, year)


def open_late_entries(conn: Connection, year: str) -> pl.DataFrame:
    """The year's watch list as it stands (R12): the entries not resolved."""
    e = late_entries.c
    return read_frame(
        conn,
        select(e.school_year, e.structure_uai, e.level, e.detected_at)
        .where(e.school_year == year, e.resolved_at.is_(None))
        .order_by(e.structure_uai, e.level),
        schema_overrides={"school_year": pl.String, **_LEVELS_SCHEMA},
    )


def _present_levels(year: str) -> Select[Any]:
    """Each school's levels that have a present pupil in a class of `year`."""
    c, uc, u = classes.c, user_classes.c, users.c
    # CROSS JOIN fixes SQLite's join order (the year's classes, their links, then each user
    # by key): left to itself it may scan every pupil once per class
    return (
        select(c.structure_uai, u.level)
        .distinct()
        .select_from(cross_join(cross_join(classes, user_classes), users))
        .where(
            uc.class_external_id == c.external_id,
            u.external_id == uc.user_external_id,
            c.school_year == year,
            u.profile == "Student",
            u.missing_since.is_(None),
        )
    )


def _set_resolved(
    conn: Connection, year: str, rows: pl.DataFrame, resolved_at: datetime | None
) -> None:
    if rows.is_empty():
        return
    staged = staging_table(conn, "late_entries_resolved", rows.select(_KEY), _KEY)
    e = late_entries.c
    conn.execute(
        update(late_entries)
        .where(
            e.school_year == year,
            e.structure_uai == staged.c.structure_uai,
            e.level == staged.c.level,
        )
        .values(resolved_at=resolved_at)
    )
