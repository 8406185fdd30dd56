"""A bulk apply refreshes PostgreSQL's planner statistics inside its own transaction, so the
statements that follow it there (attachments, the late-entry watch) are planned on the
tables' real sizes, not on the empty directory autovacuum last saw."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Engine, select, text

from rentree.infra.db import is_postgresql
from rentree.infra.schema import users
from rentree.tasks.sync.apply import STATISTICS_ROWS, apply_change_set, bulk_written
from rentree.tasks.sync.changeset import ChangeSet, empty_frame


def _pupils(count: int) -> pl.DataFrame:
    ids = pl.Series("external_id", [f"p{i:06d}" for i in range(count)])
    return (
        pl.DataFrame({"external_id": ids})
        .with_columns(
            pl.lit("feed").alias("source"),
            pl.lit("educonnect").alias("identity"),
            ("login." + pl.col("external_id")).alias("login"),
            pl.lit("Student").alias("profile"),
            pl.lit("Prénom").alias("first_name"),
            pl.lit("Nom").alias("last_name"),
            pl.lit("none").alias("activation_state"),
        )
        .select(
            [
                pl.col(c)
                if c
                in (
                    "external_id",
                    "source",
                    "identity",
                    "login",
                    "profile",
                    "first_name",
                    "last_name",
                    "activation_state",
                )
                else pl.lit(None, dtype=t).alias(c)
                for c, t in empty_frame("users_created").schema.items()
            ]
        )
    )


def _change_set(pupils: int) -> ChangeSet:
    return ChangeSet(
        school_year="2025-2026",
        delivery="20250903",
        file_hashes=(),
        fingerprint="",
        users_created=_pupils(pupils),
    )


def test_only_tables_given_many_rows_are_refreshed() -> None:
    assert bulk_written(_change_set(STATISTICS_ROWS - 1)) == []
    assert bulk_written(_change_set(STATISTICS_ROWS)) == [users]


def test_bulk_apply_gives_the_planner_the_new_sizes_in_its_transaction(engine: Engine) -> None:
    pupils = STATISTICS_ROWS + 2_000
    with engine.begin() as conn:
        apply_change_set(conn, _change_set(pupils), "run-1", datetime.now(UTC))
        assert conn.execute(select(users.c.external_id).limit(1)).first() is not None
        if is_postgresql(conn):
            # what the planner believes of `users` before the commit
            believed = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'users'")
            ).scalar_one()
            assert believed >= pupils * 0.9, believed
