"""How many accounts are in each stage of R11, per school (`rentree status`, the storage
report): marked missing (no notice yet), notified (waiting for deactivation), deactivated,
and retired (from the journal, while it lasts). A person linked to two schools counts in
both; people without a school link count under a null school."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, String, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.frames import select_frame
from rentree.infra.schema import retirement_journal, retirement_notices, user_structures, users
from rentree.tasks.rules.retirement.journal import journalled

STAGE_COLUMNS = ("marked_missing", "notified", "deactivated", "retired")
_SCHEMA: dict[str, Any] = {"structure_uai": pl.String, "stage": pl.String, "accounts": pl.Int64}


def _conditions() -> list[tuple[str, ColumnElement[bool]]]:
    u = users.c
    missing = u.missing_since.is_not(None) & (u.source == "feed")
    active = u.deactivated_at.is_(None)
    noticed = u.external_id.in_(select(retirement_notices.c.user_external_id))
    return [
        ("marked_missing", missing & active & ~noticed),
        ("notified", missing & active & noticed),
        ("deactivated", missing & ~active),
    ]


def retirement_stages(conn: Connection) -> pl.DataFrame:
    """structure_uai, marked_missing, notified, deactivated, retired (one row per school)."""
    u, us, j = users.c, user_structures.c, retirement_journal.c
    people = users.outerjoin(user_structures, us.user_external_id == u.external_id)
    queries = [
        select(us.structure_uai, literal(name, String), func.count(u.external_id.distinct()))
        .select_from(people)
        .where(condition)
        .group_by(us.structure_uai)
        for name, condition in _conditions()
    ]
    school = journalled(conn, user_structures.c.structure_uai)
    queries.append(
        select(school, literal("retired", String), func.count(j.entity_id.distinct()))
        .where(j.entity == user_structures.name, j.stage == "retire", j.undone_at.is_(None))
        .group_by(school)
    )
    long = select_frame(conn, union_all(*queries), _SCHEMA)
    wide = pl.DataFrame(schema={"structure_uai": pl.String})
    if not long.is_empty():
        wide = long.pivot("stage", index="structure_uai", values="accounts")
    for name in STAGE_COLUMNS:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(0, dtype=pl.Int64).alias(name))
    return (
        wide.select("structure_uai", *STAGE_COLUMNS)
        .fill_null(0)
        .sort("structure_uai", nulls_last=True)
    )


def stage_totals(conn: Connection) -> dict[str, int]:
    """Accounts in each stage, region-wide (each person once)."""
    j = retirement_journal.c
    totals = {
        name: int(conn.execute(select(func.count()).where(condition)).scalar_one())
        for name, condition in _conditions()
    }
    totals["retired"] = int(
        conn.execute(
            select(func.count(j.entity_id.distinct())).where(
                j.entity == users.name, j.stage == "retire", j.undone_at.is_(None)
            )
        ).scalar_one()
    )
    return totals
