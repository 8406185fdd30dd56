"""A bulk apply refreshes PostgreSQL's planner statistics inside its own transaction, so the
statements that follow it there (attachments, the late-entry watch) are planned on the
tables' real sizes, not on the empty directory autovacuum last saw; a large share purge does
the same for the shares it stages."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Engine, func, select, text

from rentree.infra.db import STATISTICS_ROWS, is_postgresql
from rentree.infra.schema import shares, users
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import plan_share_purge
from rentree.tasks.sync.apply import apply_change_set, bulk_written
from rentree.tasks.sync.changeset import ChangeSet, empty_frame
from tests.content_builders import (
    CLOSING,
    groups_frame,
    inserted,
    resources_frame,
    scolarite_school_group,
    shares_frame,
    users_frame,
)


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


def test_large_share_purge_is_planned_on_its_staged_count(engine: Engine) -> None:
    """A purge of many shares stages their keys and gives PostgreSQL their count before the
    journal's insert and the delete (a nested loop of one probe per share otherwise)."""
    planned = STATISTICS_ROWS + 500
    uai = "0590001A"
    group = scolarite_school_group(CLOSING, uai, "teachers")
    resources = [(f"r{i:06d}", "t1", "documents", "own", 10) for i in range(planned)]
    content = {
        "users": users_frame([("t1", "Teacher", "Ada", "Durand", None, None)]),
        "groups": groups_frame([group]),
        "resources": resources_frame(resources),
        # one closing-year group share per resource, and one user share each that stays
        "shares": shares_frame(
            [(r[0], "group", group["group_id"], "read") for r in resources]
            + [(r[0], "user", "t2", "read") for r in resources]
        ),
    }
    inserted(engine, content)
    with engine.begin() as conn:
        plan = plan_share_purge(conn, CLOSING)
        counts = apply_share_purge(conn, plan, "purge-1", datetime.now(UTC))
        if is_postgresql(conn):
            # the connection's own temporary table: another connection may hold one of that name
            believed = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('tmp_share_purge')")
            ).scalar_one()
            assert believed >= planned * 0.9, believed
    assert counts["shares_removed"] == planned
    with engine.connect() as conn:
        left = conn.execute(
            select(shares.c.recipient_kind, func.count()).group_by(shares.c.recipient_kind)
        ).all()
    assert left == [("user", planned)]
