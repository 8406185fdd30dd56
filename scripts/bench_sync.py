"""Benchmark of the sync engine (stage, plan, apply) on the generated region, each figure
beside its floor measured in the same run.

`run(workdir)` imports the closing year (floor: lxml iterparse of its files + its rows at
the write floor) and the new year's staff into a fresh directory, then the new year's first
families delivery: stage (floor: lxml iterparse over its files),
plan, apply (floor: the same rows written the fastest way the database allows, one
executemany per table in one transaction on SQLite, COPY on PostgreSQL, into plain tables of
a scratch schema; the change log's insert beside the same for its rows alone), and the same
Complet delivered again (floor: its own staging). SQLite
always; PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_figures import Figure, Timing, figure, timed
from bench_floors import databases, parse_floor, write_floor
from sqlalchemy import Engine, delete

from rentree.infra.schema import feed_files
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.sync import apply as sync_apply
from rentree.tasks.sync.apply import apply_change_set, change_log_rows, stamped_log_rows
from rentree.tasks.sync.changeset import KINDS, ChangeSet
from rentree.tasks.sync.plan import plan_delivery, rejected_from
from rentree.tasks.sync.records import record_feed_states

# The change log's writer inside apply_change_set, timed on its own where it is found.
CHANGE_LOG_WRITER = "_log"


def _stage(engine: Engine, store: LocalStore, year: str, delivery: str) -> StagedDelivery:
    with engine.begin() as conn:
        staged = stage_delivery(conn, store, year, delivery, Settings())
    if not isinstance(staged, StagedDelivery):
        raise RuntimeError(f"delivery {year}/{delivery} was not staged: {staged}")
    return staged


def _plan_apply(
    engine: Engine, staged: StagedDelivery, run_id: str
) -> tuple[ChangeSet, Timing, Timing, Timing | None]:
    """Plan and apply in one transaction; the last timing is the change log's insert."""
    today = datetime.strptime(staged.delivery, "%Y%m%d").date()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        with timed() as plan:
            change_set = plan_delivery(conn, staged, today=today)
        with timed() as apply, change_log_timed() as logged:
            apply_change_set(conn, change_set, run_id, now)
            # as import_delivery does after a full apply: what a re-delivery is compared with
            rejected = rejected_from(staged.problems)
            record_feed_states(conn, staged.school_year, staged.frames, rejected, run_id, now)
    change_log = sum(logged, Timing()) if logged else None
    return change_set, plan, apply, change_log


def change_frames(change_set: ChangeSet) -> dict[str, Any]:
    """The rows an apply writes: the change set's frames and its change log."""
    frames = {k: getattr(change_set, k) for k in KINDS}
    # as stored: with the run id and the time each row carries
    frames["change_log"] = stamped_log_rows(
        change_log_rows(change_set), "bench-floor", datetime.now(UTC)
    )
    return frames


@contextmanager
def change_log_timed() -> Iterator[list[Timing]]:
    """Time the change log's writer each time apply_change_set calls it (nothing else
    changes); yields the timings, none when the writer is not where this bench expects."""
    spent: list[Timing] = []
    writer: Callable[..., Any] | None = getattr(sync_apply, CHANGE_LOG_WRITER, None)
    if writer is None:
        yield spent
        return

    def timed_writer(*args: Any, **kwargs: Any) -> Any:
        with timed() as took:
            result = writer(*args, **kwargs)
        spent.append(took)
        return result

    setattr(sync_apply, CHANGE_LOG_WRITER, timed_writer)
    try:
        yield spent
    finally:
        setattr(sync_apply, CHANGE_LOG_WRITER, writer)


def delivery_paths(region: Path, year: str, delivery: dict[str, Any], *types: str) -> list[Path]:
    """The files of a manifest delivery (only those of `types` when given)."""
    paths = [region / "landing" / year / f["name"] for f in delivery["files"]]
    return [p for p in paths if not types or any(f"_{t}_" in p.name for t in types)]


def _measure(engine: Engine, region: Path, label: str) -> list[Figure]:
    manifest = json.loads((region / "manifest.json").read_text())
    closing, new = manifest["closing_year"], manifest["new_year"]
    # stage reads landing/ and moves nothing for a valid delivery: the region folder serves
    store = LocalStore(region)
    deliveries = manifest["deliveries"]
    key = f"sync.{label.lower()}"
    closing_parse, _ = parse_floor(delivery_paths(region, closing, deliveries[0]))
    with timed() as closing_took:
        staged = _stage(engine, store, closing, deliveries[0]["delivery"])
        closing_set, _, _, _ = _plan_apply(engine, staged, "bench-closing")
    closing_write, closing_rows = write_floor(engine, change_frames(closing_set))
    figures = [
        figure(
            f"{key}.closing_first_import",
            f"{label}: closing year, first import: stage + plan + apply "
            f"({closing_rows:,} rows with the change log)",
            closing_took,
            closing_parse + closing_write,
            "lxml iterparse of its files + its rows at the write floor",
        )
    ]
    for d in deliveries[1:]:
        if set(d["records"]) == {"PersEducNat"}:
            _plan_apply(engine, _stage(engine, store, new, d["delivery"]), f"bench-{d['delivery']}")
    families = next(d for d in deliveries[1:] if "Eleve" in d["records"])
    parse, _ = parse_floor(delivery_paths(region, new, families, "Eleve", "PersRelEleve"))
    with timed() as staging:
        staged = _stage(engine, store, new, families["delivery"])
    change_set, plan, apply, logged = _plan_apply(engine, staged, "bench-families")
    frames = change_frames(change_set)
    floor, rows = write_floor(engine, frames)
    log_floor, log_rows = write_floor(engine, {"change_log": frames["change_log"]})
    figures += [
        figure(
            f"{key}.families_stage",
            f"{label}: new-year families: stage (parse + validate + cross-file checks)",
            staging,
            parse,
            "lxml iterparse of its Eleve and PersRelEleve files",
        ),
        figure(f"{key}.families_plan", f"{label}: new-year families: plan", plan),
        figure(
            f"{key}.families_apply",
            f"{label}: new-year families: apply + commit ({rows:,} rows with the change log)",
            apply,
            floor,
            "the same rows into plain tables, executemany/COPY, one transaction",
        ),
        figure(
            f"{key}.families_in_process",
            f"{label}: new-year families: stage + plan + apply",
            staging + plan + apply,
            parse + floor,
            "parse floor + write floor",
        ),
    ]
    if logged is not None:
        figures.append(
            figure(
                f"{key}.change_log_insert",
                f"{label}: new-year families: the change log's insert inside apply "
                f"({log_rows:,} rows)",
                logged,
                log_floor,
                "the same rows into a plain table, executemany/COPY",
            )
        )
    # the same Complet delivered again with nothing changed: its staging, then the plan
    with timed() as again_staging:
        again = _stage_again(engine, store, new, families["delivery"], staged)
    with timed() as replan, engine.connect() as conn:
        empty = plan_delivery(conn, again, today=datetime.now(UTC).date())
    figures.append(
        figure(
            f"{key}.complete_again_no_change",
            f"{label}: the same Complet again, nothing changed: stage + plan "
            f"({'empty' if empty.is_empty() else 'NOT EMPTY'})",
            again_staging + replan,
            again_staging,
            "its own staging",
        )
    )
    return figures


def _stage_again(
    engine: Engine, store: LocalStore, year: str, delivery: str, staged: StagedDelivery
) -> StagedDelivery:
    """Stage the delivery again as if its bytes were new (its files are in feed_files now):
    the check of every file, without the already-applied shortcut."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(
            delete(feed_files).where(
                feed_files.c.content_hash.in_([f.content_hash for f in staged.files])
            )
        )
        again = stage_delivery(conn, store, year, delivery, Settings())
        transaction.rollback()
    if not isinstance(again, StagedDelivery):
        raise RuntimeError(f"delivery {year}/{delivery} was not staged again: {again}")
    return again


def run(workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    for label, engine in databases(workdir / "bench_sync", "rentree"):
        figures += _measure(engine, workdir / "region", label)
    return figures
