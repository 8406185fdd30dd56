"""A bulk apply refreshes PostgreSQL's planner statistics inside its own transaction, so the
statements that follow it there (attachments, the late-entry watch) are planned on the
tables' real sizes, not on the empty directory autovacuum last saw; a large share purge does
the same for the shares it stages. After a content import commits, the tables it wrote in
bulk are vacuumed, so that index-only scans read their indexes alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra.db import STATISTICS_ROWS, is_postgresql, vacuum_after_bulk_write
from rentree.infra.schema import shares, users
from rentree.tasks.content.inventory import apply as inventory_apply
from rentree.tasks.content.inventory.apply import ContentImport, TableOutcome
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
from tests.test_content_import import (
    cli_env,
    good_inventory,
    seed_directory,
    table_rows,
    write_inventory,
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


def _visible_pages(engine: Engine, table: str) -> tuple[int, int]:
    """PostgreSQL's (pages, pages marked all-visible) of a table, as VACUUM last left them."""
    with engine.connect() as conn:
        pages, visible = conn.execute(
            text("SELECT relpages, relallvisible FROM pg_class WHERE relname = :name"),
            {"name": table},
        ).one()
    return pages, visible


def test_content_import_names_the_tables_it_wrote_in_bulk() -> None:
    def outcome(rows: int, *, dry_run: bool = False) -> ContentImport:
        many = TableOutcome("resources", rows, rows, 0, 0, 0)
        few = TableOutcome("shares", 5, 3, 2, 0, 0)
        return ContentImport("run", dry_run, (many, few), pl.DataFrame(), (), {})

    assert outcome(STATISTICS_ROWS).bulk_written == ["resources"]
    assert outcome(STATISTICS_ROWS - 1).bulk_written == []
    assert outcome(STATISTICS_ROWS, dry_run=True).bulk_written == []


def test_content_import_leaves_postgresql_index_only_scans_on_the_index(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `rentree content import` commits, the tables it wrote in bulk are vacuumed: their
    pages are marked all-visible, so the storage report's covering index is read alone."""
    monkeypatch.setattr(inventory_apply, "STATISTICS_ROWS", 1)
    seed_directory(engine)
    folder = write_inventory(tmp_path / "inventory", good_inventory())
    done = CliRunner().invoke(
        app, ["content", "import", str(folder)], env=cli_env(engine, tmp_path)
    )
    assert done.exit_code == 0, done.output
    assert table_rows(engine, "resources") > 0
    if is_postgresql(engine):
        pages, visible = _visible_pages(engine, "resources")
        assert pages > 0 and visible == pages, (pages, visible)


def test_vacuum_marks_the_pages_of_a_bulk_written_table_visible(engine: Engine) -> None:
    resources = [(f"r{i:06d}", "t1", "documents", "own", 10) for i in range(STATISTICS_ROWS)]
    inserted(engine, {"resources": resources_frame(resources)})
    vacuum_after_bulk_write(engine, ["resources"])
    assert table_rows(engine, "resources") == STATISTICS_ROWS
    if is_postgresql(engine):
        pages, visible = _visible_pages(engine, "resources")
        assert pages > 0 and visible == pages, (pages, visible)
