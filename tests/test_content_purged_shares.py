"""A content inventory imported again after a share purge does not bring the purged shares
back (R5): those rows are reported with the purge run and skipped, in a dry run too, until the
operator undoes the purge."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import plan_share_purge
from rentree.tasks.content.purge.undo import undo_share_purge
from tests.test_content_import import (
    CLOSING_GROUP,
    counts,
    imported_good_inventory,
    run_import,
)

NOW = datetime(2024, 9, 20, 2, 0, tzinfo=UTC)
PURGED = ("R2", "group", CLOSING_GROUP)


def shares(engine: Engine) -> set[tuple[str, str, str]]:
    s = schema.shares.c
    with engine.connect() as conn:
        rows = conn.execute(select(s.resource_id, s.recipient_kind, s.recipient_id))
        return {(r[0], r[1], r[2]) for r in rows}


def test_an_inventory_imported_again_after_a_purge_skips_the_purged_shares(
    engine: Engine, tmp_path: Path
) -> None:
    store, folder = imported_good_inventory(engine, tmp_path)
    assert PURGED in shares(engine)
    with engine.begin() as conn:
        plan = plan_share_purge(conn, "2023-2024")
        assert apply_share_purge(conn, plan, "purge-1", NOW)["shares_removed"] == 1
    after_purge = shares(engine)
    assert PURGED not in after_purge

    for dry_run in (True, False):
        outcome = run_import(engine, folder, store, dry_run=dry_run)
        assert counts(outcome)["shares"][0] == 0  # nothing imported
        assert outcome.rejected == 0 and outcome.purged == 1
        row = outcome.purged_shares.row(0, named=True)
        assert row["run_id"] == "purge-1" and "share purge run purge-1" in row["reason"]
        assert shares(engine) == after_purge
        report = store.read_bytes(outcome.reports[2].csv_key).decode()
        assert "purge-1" in report

    # undone by the operator: the share is back, and the inventory finds it unchanged
    with engine.begin() as conn:
        assert undo_share_purge(conn, "purge-1", NOW) == 1
    outcome = run_import(engine, folder, store)
    assert outcome.purged == 0
    assert counts(outcome)["shares"] == (0, 0, 5, 0)
    assert PURGED in shares(engine)


def test_after_an_undo_a_share_deleted_since_is_imported_again(
    engine: Engine, tmp_path: Path
) -> None:
    store, folder = imported_good_inventory(engine, tmp_path)
    with engine.begin() as conn:
        apply_share_purge(conn, plan_share_purge(conn, "2023-2024"), "purge-1", NOW)
        undo_share_purge(conn, "purge-1", NOW)
        s = schema.shares.c
        conn.execute(schema.shares.delete().where(s.resource_id == "R2"))
    outcome = run_import(engine, folder, store)
    assert outcome.purged == 0 and counts(outcome)["shares"][0] == 1
