"""Benchmark of the sync engine (stage, plan, apply) on the generated region, each figure
beside its floor measured in the same run.

`run(workdir)` imports the closing year and the new year's staff into a fresh directory,
then the new year's first families delivery: stage (floor: lxml iterparse over its files),
plan, apply (floor: the same rows written the fastest way the database allows, one
executemany per table in one transaction on SQLite, COPY on PostgreSQL, into plain tables of
a scratch schema), and the same Complet delivered again (floor: its own staging). SQLite
always; PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from bench_feeds import _lxml_alone
from bench_figures import Figure, Timing, peak_mb, timed
from sqlalchemy import Engine, delete

from rentree.infra.db import is_postgresql, make_engine, truncate_all, upgrade
from rentree.infra.schema import feed_files
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.sync.apply import apply_change_set, change_log_rows
from rentree.tasks.sync.changeset import KINDS, ChangeSet
from rentree.tasks.sync.plan import plan_delivery, rejected_from
from rentree.tasks.sync.records import record_feed_states


def _stage(engine: Engine, store: LocalStore, year: str, delivery: str) -> StagedDelivery:
    with engine.begin() as conn:
        staged = stage_delivery(conn, store, year, delivery, Settings())
    if not isinstance(staged, StagedDelivery):
        raise RuntimeError(f"delivery {year}/{delivery} was not staged: {staged}")
    return staged


def _plan_apply(
    engine: Engine, staged: StagedDelivery, run_id: str
) -> tuple[ChangeSet, Timing, Timing]:
    today = datetime.strptime(staged.delivery, "%Y%m%d").date()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        with timed() as plan:
            change_set = plan_delivery(conn, staged, today=today)
        with timed() as apply:
            apply_change_set(conn, change_set, run_id, now)
            # as import_delivery does after a full apply: what a re-delivery is compared with
            rejected = rejected_from(staged.problems)
            record_feed_states(conn, staged.school_year, staged.frames, rejected, run_id, now)
    return change_set, plan, apply


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text (lists joined, structs as JSON): what a plain table takes."""
    columns = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List):
            columns.append(pl.col(name).list.join(",").alias(name))
        elif isinstance(dtype, pl.Struct):
            columns.append(pl.col(name).struct.json_encode().alias(name))
        else:
            columns.append(pl.col(name).cast(pl.String).alias(name))
    return frame.select(columns)


def write_floor(engine: Engine, change_set: ChangeSet) -> tuple[Timing, int]:
    """The rows of the change set and its change log written into plain scratch tables, the
    fastest way: one executemany per table (SQLite), COPY (PostgreSQL), one transaction."""
    frames = {k: getattr(change_set, k) for k in KINDS}
    frames["change_log"] = change_log_rows(change_set)
    frames = {k: _plain(f) for k, f in frames.items() if f.height}
    rows = sum(f.height for f in frames.values())
    with engine.connect() as conn, conn.begin() as transaction:
        with timed() as took:
            for kind, frame in frames.items():
                table = f"floor_{kind}"
                columns = ", ".join(f'"{c}" TEXT' for c in frame.columns)
                conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{table}" ({columns})')
                if is_postgresql(conn):
                    buffer = io.BytesIO()
                    frame.write_csv(buffer, include_header=False)
                    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    with cursor.copy(f'COPY "{table}" FROM STDIN (FORMAT csv)') as copy:
                        copy.write(buffer.getvalue())
                else:
                    marks = ", ".join("?" for _ in frame.columns)
                    conn.exec_driver_sql(
                        f'INSERT INTO "{table}" VALUES ({marks})', list(frame.iter_rows())
                    )
        transaction.rollback()
    return took, rows


def _measure(engine: Engine, region: Path, label: str) -> list[Figure]:
    manifest = json.loads((region / "manifest.json").read_text())
    closing, new = manifest["closing_year"], manifest["new_year"]
    # stage reads landing/ and moves nothing for a valid delivery: the region folder serves
    store = LocalStore(region)
    deliveries = manifest["deliveries"]
    key = label.lower()
    figures: list[Figure] = []
    with timed() as closing_took:
        staged = _stage(engine, store, closing, deliveries[0]["delivery"])
        closing_set, _, _ = _plan_apply(engine, staged, "bench-closing")
    figures.append(
        Figure(
            f"sync.{key}.closing_first_import",
            f"{label}: closing year, first import: stage + plan + apply "
            f"({sum(closing_set.counts().values()):,} changes)",
            seconds=closing_took.seconds,
            cpu_seconds=closing_took.cpu_seconds,
            peak_mb=peak_mb(),
        )
    )
    for d in deliveries[1:]:
        if set(d["records"]) == {"PersEducNat"}:
            _plan_apply(engine, _stage(engine, store, new, d["delivery"]), f"bench-{d['delivery']}")
    families = next(d for d in deliveries[1:] if "Eleve" in d["records"])
    paths = [region / "landing" / new / f["name"] for f in families["files"]]
    with timed() as parse_floor:
        _lxml_alone([p for p in paths if "Eleve" in p.name or "PersRelEleve" in p.name])
    with timed() as staging:
        staged = _stage(engine, store, new, families["delivery"])
    change_set, plan, apply = _plan_apply(engine, staged, "bench-families")
    floor, rows = write_floor(engine, change_set)
    figures += [
        Figure(
            f"sync.{key}.families_stage",
            f"{label}: new-year families: stage (parse + validate + cross-file checks)",
            seconds=staging.seconds,
            cpu_seconds=staging.cpu_seconds,
            floor_seconds=parse_floor.seconds,
            floor_cpu_seconds=parse_floor.cpu_seconds,
            floor_label="lxml iterparse of its Eleve and PersRelEleve files",
        ),
        Figure(
            f"sync.{key}.families_plan",
            f"{label}: new-year families: plan",
            seconds=plan.seconds,
            cpu_seconds=plan.cpu_seconds,
        ),
        Figure(
            f"sync.{key}.families_apply",
            f"{label}: new-year families: apply + commit ({rows:,} rows with the change log)",
            seconds=apply.seconds,
            cpu_seconds=apply.cpu_seconds,
            floor_seconds=floor.seconds,
            floor_cpu_seconds=floor.cpu_seconds,
            floor_label="the same rows into plain tables, executemany/COPY, one transaction",
        ),
        Figure(
            f"sync.{key}.families_in_process",
            f"{label}: new-year families: stage + plan + apply",
            seconds=staging.seconds + plan.seconds + apply.seconds,
            cpu_seconds=staging.cpu_seconds + plan.cpu_seconds + apply.cpu_seconds,
            floor_seconds=parse_floor.seconds + floor.seconds,
            floor_cpu_seconds=parse_floor.cpu_seconds + floor.cpu_seconds,
            floor_label="parse floor + write floor",
            peak_mb=peak_mb(),
        ),
    ]
    # the same Complet delivered again with nothing changed: its staging, then the plan
    with timed() as again_staging:
        again = _stage_again(engine, store, new, families["delivery"], staged)
    with timed() as replan, engine.connect() as conn:
        empty = plan_delivery(conn, again, today=datetime.now(UTC).date())
    figures.append(
        Figure(
            f"sync.{key}.complete_again_no_change",
            f"{label}: the same Complet again, nothing changed: stage + plan "
            f"({'empty' if empty.is_empty() else 'NOT EMPTY'})",
            seconds=again_staging.seconds + replan.seconds,
            cpu_seconds=again_staging.cpu_seconds + replan.cpu_seconds,
            floor_seconds=again_staging.seconds,
            floor_cpu_seconds=again_staging.cpu_seconds,
            floor_label="its own staging",
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
    region = workdir / "region"
    sqlite_path = workdir / "bench_sync" / "rentree.db"
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in sqlite_path.parent.glob("rentree.db*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{sqlite_path}")
    upgrade(engine)
    figures = _measure(engine, region, "SQLite")
    engine.dispose()
    url = os.environ.get("RENTREE_TEST_POSTGRES_URL")
    if url:
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            truncate_all(conn)
        figures += _measure(engine, region, "PostgreSQL")
        engine.dispose()
    return figures
