"""A failure after the commit is not a failed run: the run that applied a delivery is recorded
`applied` with its counts in the apply's own transaction, whatever fails afterwards (the
moves to archive/, the reports), and the next run finishes the moves and writes the missing
reports from the database (SQLite and PostgreSQL, local folder and S3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.infra.naming import landing_prefix, reports_prefix
from rentree.infra.runs import finish_run, start_run
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.imports.pending import import_pending
from tests.sync_builders import NEW, NOW
from tests.test_imports import SETTINGS, family_delivery, land

DAY = "20240902"
FAMILY = ("EtabEducNat", "Eleve", "PersRelEleve")


class FailingAfterCommit:
    """The store as it is, except that moving a file into archive/ or writing under reports/
    fails (an S3 outage right after the commit)."""

    def __init__(self, store: ObjectStore, *, moves: bool, reports: bool) -> None:
        self._store, self._moves, self._reports = store, moves, reports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def move(self, src: str, dst: str) -> None:
        if self._moves and dst.startswith("archive/"):
            raise OSError("the storage service is unreachable")
        self._store.move(src, dst)

    def write_bytes(self, key: str, data: bytes) -> None:
        if self._reports and key.startswith("reports/"):
            raise OSError("the storage service is unreachable")
        self._store.write_bytes(key, data)


def _run_row(engine: Engine, run_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).one()


def _start(engine: Engine, run_id: str) -> None:
    with engine.begin() as conn:
        start_run(
            conn,
            run_id=run_id,
            flow="family-import",
            school_year=NEW,
            started_at=NOW,
            dry_run=False,
        )


@pytest.mark.parametrize(
    ("moves", "reports"), [(True, True), (False, True)], ids=["both", "reports"]
)
def test_a_failure_after_the_commit_leaves_the_run_applied_and_the_next_run_finishes(
    engine: Engine, store: ObjectStore, moves: bool, reports: bool
) -> None:
    keys = land(store, NEW, family_delivery(DAY, range(4)))
    _start(engine, "first")
    failing = FailingAfterCommit(store, moves=moves, reports=reports)
    first = import_delivery(
        engine, failing, SETTINGS, NEW, DAY, run_id="first", now=NOW, phase="family-import"
    )  # type: ignore[arg-type]
    assert first.status == "applied"
    assert "the next run" in first.reason
    row = _run_row(engine, "first")
    # recorded with the apply: applied, its counts and its change set's summary
    assert row.status == "applied"
    assert row.summary["counts"]["users_created"] == 8  # four pupils, four relatives
    (entry,) = row.summary["committed"]
    assert entry["delivery"] == DAY and entry["change_set"]["counts"]["users_created"] == 8
    assert entry["reported"] is (not reports)
    # the run then stops (killed, or its failure caught by the flow): still applied
    with engine.begin() as conn:
        finish_run(conn, "first", "failed", {"error": "the storage service is unreachable"})
    assert _run_row(engine, "first").status == "applied"
    assert _run_row(engine, "first").summary["counts"]["users_created"] == 8
    assert all(store.exists(k) for k in keys) is moves

    prefix = reports_prefix(NEW, "family-import", "first")
    outcome_key = f"{prefix}outcome_{DAY}.txt"
    assert store.exists(outcome_key) is (not reports)
    _start(engine, "second")
    later = import_pending(
        engine, store, SETTINGS, NEW, FAMILY, run_id="second", now=datetime(2024, 9, 3, 6, 0)
    )
    said = " ".join(o.reason for o in later)
    # the moves finished (write-once archive/), nothing applied twice
    assert not store.list(landing_prefix(NEW))
    assert len(store.list("archive/")) == len(keys)
    assert all(o.status in ("already_applied", "skipped") for o in later), said
    if moves:
        assert "they go to archive/ now" in said
    # the missing reports written from the database, said in one sentence
    assert store.exists(outcome_key)
    if reports:
        assert "stopped before writing its reports" in said
        assert store.exists(f"{prefix}change_log.csv")
        assert store.exists(f"{prefix}change_set_{DAY}/summary.json")
        # every row the run logged, found by the span of change ids its commit recorded
        log = pl.read_parquet(store.read_bytes(f"{prefix}change_log.parquet"))
        assert log.height == entry["counts"]["change_log"] > 8
        first, last = entry["change_log_span"]
        assert last - first >= log.height  # PostgreSQL's sequence may leave gaps
        assert set(log["operation"]) >= {"create", "link"}
        assert (log["at"] == NOW.isoformat()).all()
    assert _run_row(engine, "first").summary["committed"][0]["reported"] is True
    # and once done, a third run has nothing left to finish
    third = import_pending(engine, store, SETTINGS, NEW, FAMILY, run_id="third", now=NOW)
    assert not any("stopped before writing" in o.reason for o in third)


def test_a_store_still_down_is_said_and_tried_again(engine: Engine, store: ObjectStore) -> None:
    land(store, NEW, family_delivery(DAY, range(2)))
    _start(engine, "first")
    down = FailingAfterCommit(store, moves=True, reports=True)
    import_delivery(engine, down, SETTINGS, NEW, DAY, run_id="first", now=NOW)  # type: ignore[arg-type]
    again = import_pending(engine, down, SETTINGS, NEW, FAMILY, run_id="second", now=NOW)  # type: ignore[arg-type]
    assert any("could still not be written" in o.reason for o in again)
    assert _run_row(engine, "first").summary["committed"][0]["reported"] is False
    assert _run_row(engine, "first").status == "applied"


def test_a_commit_recorded_without_a_span_is_read_by_its_run_id(
    engine: Engine, store: ObjectStore
) -> None:
    # a run committed before revision 0007 recorded no change_log_span: its rows are found
    # by the run id alone, and none of a later run's
    land(store, NEW, family_delivery(DAY, range(3)))
    _start(engine, "first")
    down = FailingAfterCommit(store, moves=False, reports=True)
    import_delivery(engine, down, SETTINGS, NEW, DAY, run_id="first", now=NOW)  # type: ignore[arg-type]
    row = _run_row(engine, "first")
    committed = [
        {k: v for k, v in e.items() if k != "change_log_span"} for e in row.summary["committed"]
    ]
    with engine.begin() as conn:
        conn.execute(
            schema.runs.update()
            .where(schema.runs.c.run_id == "first")
            .values(summary={**row.summary, "committed": committed})
        )
        conn.execute(
            schema.change_log.insert().values(
                run_id="other", at=NOW, entity="user", entity_id="X", operation="update"
            )
        )
    _start(engine, "second")
    import_pending(engine, store, SETTINGS, NEW, FAMILY, run_id="second", now=NOW)
    prefix = reports_prefix(NEW, "family-import", "first")
    log = pl.read_parquet(store.read_bytes(f"{prefix}change_log.parquet"))
    assert log.height == committed[0]["counts"]["change_log"]
    assert "X" not in log["entity_id"].to_list()
