"""Benchmark of the sync engine (plan and apply) on the generated region.

`run(workdir)` reads the deliveries under `workdir / "region"` (made by `rentree generate`),
imports the closing year and the new year's staff into a fresh directory, then times the
plan and the apply of the new year's first families delivery, and a no-change re-plan of it
(which must be empty). SQLite always; PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from rentree.infra.db import make_engine, truncate_all, upgrade
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.sync.apply import apply_change_set
from rentree.tasks.sync.plan import plan_delivery, rejected_from
from rentree.tasks.sync.records import record_feed_states


def _stage(engine: Engine, store: LocalStore, year: str, delivery: str) -> StagedDelivery:
    with engine.begin() as conn:
        staged = stage_delivery(conn, store, year, delivery, Settings())
    if not isinstance(staged, StagedDelivery):
        raise RuntimeError(f"delivery {year}/{delivery} was not staged: {staged}")
    return staged


def _import(engine: Engine, staged: StagedDelivery, run_id: str) -> tuple[float, float]:
    today = datetime.strptime(staged.delivery, "%Y%m%d").date()
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        change_set = plan_delivery(conn, staged, today=today)
        planned = time.perf_counter()
        apply_change_set(conn, change_set, run_id, now)
        # as import_delivery does after a full apply: what a re-delivery is compared with
        record_feed_states(
            conn, staged.school_year, staged.frames, rejected_from(staged.problems), run_id, now
        )
    return planned - started, time.perf_counter() - planned


def _measure(engine: Engine, region: Path, label: str) -> list[tuple[str, str]]:
    manifest = json.loads((region / "manifest.json").read_text())
    closing, new = manifest["closing_year"], manifest["new_year"]
    # stage reads landing/ and moves nothing for a valid delivery: the region folder serves
    store = LocalStore(region)
    deliveries = manifest["deliveries"]
    figures: list[tuple[str, str]] = []
    started = time.perf_counter()
    _import(engine, _stage(engine, store, closing, deliveries[0]["delivery"]), "bench-closing")
    figures.append((f"sync {label}: closing year stage+plan+apply", _s(started)))
    for d in deliveries[1:]:
        if set(d["records"]) == {"PersEducNat"}:
            _import(engine, _stage(engine, store, new, d["delivery"]), f"bench-{d['delivery']}")
    families = next(d for d in deliveries[1:] if "Eleve" in d["records"])
    started = time.perf_counter()
    staged = _stage(engine, store, new, families["delivery"])
    staging_s = time.perf_counter() - started
    figures.append((f"sync {label}: stage new-year families", f"{staging_s:.1f} s"))
    plan_s, apply_s = _import(engine, staged, "bench-families")
    figures.append((f"sync {label}: plan new-year families", f"{plan_s:.1f} s"))
    figures.append((f"sync {label}: apply new-year families", f"{apply_s:.1f} s"))
    started = time.perf_counter()
    with engine.connect() as conn:
        again = plan_delivery(
            conn, staged, today=datetime.strptime(staged.delivery, "%Y%m%d").date()
        )
    replan_s = time.perf_counter() - started
    figures.append(
        (
            f"sync {label}: no-change re-plan ({'empty' if again.is_empty() else 'NOT EMPTY'}); "
            "the same Complet again: (staging + re-plan) / staging",
            f"{replan_s:.1f} s; {(staging_s + replan_s) / staging_s:.2f}x",
        )
    )
    return figures


def _s(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def run(workdir: Path) -> list[tuple[str, str]]:
    region = workdir / "region"
    sqlite_path = workdir / "bench_sync" / "rentree.db"
    if sqlite_path.exists():
        sqlite_path.unlink()
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
