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

import polars as pl
from sqlalchemy import Connection, and_, bindparam, update

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.db import insert_frame, read_frame
from rentree.infra.naming import previous_school_year
from rentree.infra.schema import late_entries

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
_KEY = ["structure_uai", "level"]


def entry_levels(conn: Connection, year: str) -> pl.DataFrame:
    """Each school's entry levels that it had last year: structure_uai, level."""
    last_year = read_frame(
        conn,
        """SELECT c.structure_uai, c.levels, s.type, s.rpi
           FROM classes c JOIN structures s ON s.uai = c.structure_uai
           WHERE c.school_year = :previous""",
        {"previous": previous_school_year(year)},
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
    present = read_frame(
        conn,
        # CROSS JOIN fixes SQLite's join order (the year's classes, their links, then each
        # user by key): left to itself it may scan every pupil once per class
        """SELECT DISTINCT c.structure_uai, u.level
           FROM classes c
           CROSS JOIN user_classes uc
           CROSS JOIN users u
           WHERE uc.class_external_id = c.external_id AND u.external_id = uc.user_external_id
             AND c.school_year = :year AND u.profile = 'Student' AND u.missing_since IS NULL""",
        {"year": year},
        schema_overrides={"structure_uai": pl.String, "level": pl.String},
    )
    if present.is_empty():
        present = pl.DataFrame(schema={"structure_uai": pl.String, "level": pl.String})
    watched = expected.join(present.select("structure_uai").unique(), on="structure_uai")
    late = watched.join(present, on=_KEY, how="anti")
    known = read_frame(
        conn,
        "SELECT structure_uai, level, resolved_at FROM late_entries WHERE school_year = :year",
        {"year": year},
        schema_overrides={"structure_uai": pl.String, "level": pl.String},
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
    return read_frame(
        conn,
        """SELECT school_year, structure_uai, level, detected_at FROM late_entries
           WHERE school_year = :year AND resolved_at IS NULL
           ORDER BY structure_uai, level""",
        {"year": year},
        schema_overrides={"school_year": pl.String, "structure_uai": pl.String, "level": pl.String},
    )


def _set_resolved(
    conn: Connection, year: str, rows: pl.DataFrame, resolved_at: datetime | None
) -> None:
    if rows.is_empty():
        return
    statement = (
        update(late_entries)
        .where(
            and_(
                late_entries.c.school_year == year,
                late_entries.c.structure_uai == bindparam("b_uai"),
                late_entries.c.level == bindparam("b_level"),
            )
        )
        .values(resolved_at=bindparam("b_resolved"))
    )
    conn.execute(
        statement,
        [
            {"b_uai": uai, "b_level": level, "b_resolved": resolved_at}
            for uai, level in rows.select(_KEY).iter_rows()
        ],
    )
