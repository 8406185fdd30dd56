"""Bench of retire-missing (R11): the notice run, the deactivation, the retirement and the
undo of each, on the share purge bench's synthetic directory with one person in seven marked
missing (a region after one rollover holds about 215,000 of its 1.5 million people marked).
SQLite, and PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set (that database is emptied).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from bench_purge import SCALES, _timed, generate, load
from sqlalchemy import Engine

from rentree.infra.db import make_engine, truncate_all, upgrade
from rentree.tasks.rules.retirement.apply import apply_retirement, undo_retirement
from rentree.tasks.rules.retirement.plan import plan_retirement
from rentree.tasks.rules.retirement.rules import RetirementRules

MARK = date(2024, 9, 20)
NEW = "2024-2025"
RULES = RetirementRules()
MISSING_SHARE = 7  # one person in seven


def _at(days: int) -> tuple[date, datetime]:
    day = MARK + timedelta(days=days)
    return day, datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)


def _run(engine: Engine, days: int, run_id: str) -> dict[str, int]:
    day, now = _at(days)
    with engine.begin() as conn:
        plan = plan_retirement(conn, RULES, day, now, NEW)
        return apply_retirement(conn, plan, run_id, now)


def _undo(engine: Engine, run_id: str) -> dict[str, int]:
    _, now = _at(200)
    with engine.begin() as conn:
        return undo_retirement(conn, run_id, now)


def measure(engine: Engine, label: str, content: dict[str, pl.DataFrame]) -> list[tuple[str, str]]:
    load(engine, content)
    missing = content["users"]["missing_since"].is_not_null().sum()
    steps: list[tuple[str, Callable[[], dict[str, int]], str]] = [
        ("notice run (plan + notice + record)", lambda: _run(engine, 90, "notice"),
         "notices_recorded"),
        ("deactivation run", lambda: _run(engine, 104, "deactivate"), "deactivated"),
        ("retirement run", lambda: _run(engine, 180, "retire"), "retired"),
        ("undo of the retirement", lambda: _undo(engine, "retire"), "accounts_restored"),
        ("undo of the deactivation", lambda: _undo(engine, "deactivate"),
         "accounts_reactivated"),
    ]  # fmt: skip
    figures = [(f"{label}: people marked missing", f"{missing:,}")]
    for name, action, count in steps:
        counts, seconds = _timed(action)
        figures.append((f"{label}: {name}", f"{counts[count]:,} accounts in {seconds:.1f} s"))
    return figures


def run(workdir: Path) -> list[tuple[str, str]]:
    factor = SCALES.get(workdir.name, SCALES.get(os.environ.get("BENCH_SCALE", ""), 1.0))
    workdir.mkdir(parents=True, exist_ok=True)
    content = generate(factor)
    users = content["users"]
    content["users"] = users.with_columns(
        pl.when(pl.int_range(pl.len()) % MISSING_SHARE == 3)
        .then(pl.lit(MARK))
        .otherwise(pl.lit(None, pl.Date))
        .alias("missing_since")
    )
    database = workdir / "bench_retire.db"
    for leftover in workdir.glob("bench_retire.db*"):
        leftover.unlink()
    sqlite = make_engine(f"sqlite:///{database}")
    upgrade(sqlite)
    figures = measure(sqlite, "SQLite", content)
    sqlite.dispose()
    postgres_url = os.environ.get("RENTREE_TEST_POSTGRES_URL")
    if postgres_url:
        postgres = make_engine(postgres_url)
        upgrade(postgres)
        with postgres.begin() as conn:
            truncate_all(conn)
        figures += measure(postgres, "PostgreSQL", content)
        postgres.dispose()
    return figures
